"""A small Llama-3-style tokenizer.json built here: Split regex + ByteLevel, ignore_merges, a BOS-adding
TemplateProcessing, merges as lists and as strings, added tokens with strip options; and the same vocabulary
written to GGUF."""
import json
import pathlib

import pytest

from personax.tokenizers import BUILTIN_TEMPLATES, load_tokenizer, save_hf_tokenizer
from personax.tokenizers.gguf_loader import _LLAMA3_PATTERN

tokenizers = pytest.importorskip("tokenizers")
transformers = pytest.importorskip("transformers")

SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
TRAIN_TEXTS = [
    "The quick brown fox jumps over the lazy dog. 12345 67890",
    "Personalization means answering the way this user wants: brief, in a table, with examples.",
    "def tokenize(text):\n    return [t for t in text.split() if t]\n",
    "Café, naïve, résumé; 中文 and emoji 😀 appear rarely.",
] * 20
TEXTS = [
    "Hello world, the quick brown fox!",
    "Numbers 1234567 split in threes: 1,000 and 99.5%",
    "  spaces\n\n\tand tabs\r\n",
    "zebraquux is one token only with ignore_merges; so is zebraquux again",
    "I'M SHOUTING, you'RE not",
    "e\u0301 composed by NFC",
    "special <|eot_id|> inside, and <mask>  with spaces around  <mask> here",
    "qq alone, but qqq and aqq are not whole words",
    "中文 😀 naïve",
]


def _train() -> dict:
    from tokenizers import AddedToken, Regex, decoders, models, normalizers, pre_tokenizers, processors, trainers

    tok = tokenizers.Tokenizer(models.BPE(ignore_merges=True))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(_LLAMA3_PATTERN), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=420, special_tokens=SPECIALS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(TRAIN_TEXTS, trainer)
    tok.add_special_tokens([AddedToken("<mask>", lstrip=True, rstrip=True, special=True, normalized=False)])
    tok.add_tokens([AddedToken("qq", single_word=True, special=False, normalized=False)])
    bos = tok.token_to_id("<|begin_of_text|>")
    tok.post_processor = processors.TemplateProcessing(single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A $B",
                                                       special_tokens=[("<|begin_of_text|>", bos)])
    spec = json.loads(tok.to_str())
    # A whole-word token with no merges leading to it: only ignore_merges can produce it. It takes the next model
    # id and the added tokens move up one (`tokenizers` expects the model vocabulary to have no gaps).
    new_id = len(spec["model"]["vocab"])
    spec["model"]["vocab"]["Ġzebraquux"] = new_id
    for added in spec["added_tokens"]:
        if added["id"] >= new_id:
            added["id"] += 1
    return spec


def _write_folder(folder: pathlib.Path, spec: dict, merges_as_strings: bool) -> pathlib.Path:
    folder.mkdir()
    spec = json.loads(json.dumps(spec))
    spec["model"]["merges"] = [" ".join(m) if merges_as_strings else list(m) for m in
                               (m.split(" ") if isinstance(m, str) else m for m in spec["model"]["merges"])]
    (folder / "tokenizer.json").write_text(json.dumps(spec), encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>",
        "chat_template": BUILTIN_TEMPLATES["llama3"].template}), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def spec() -> dict:
    return _train()


@pytest.fixture(scope="module", params=["lists", "strings"])
def folder(request, spec, tmp_path_factory) -> pathlib.Path:
    return _write_folder(tmp_path_factory.mktemp("tok") / "llama_like", spec, request.param == "strings")


@pytest.fixture(scope="module")
def loaded(folder):
    return (load_tokenizer(folder), tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json")),
            transformers.AutoTokenizer.from_pretrained(str(folder)))


@pytest.mark.parametrize("text", TEXTS)
def test_ids_match_tokenizers_and_transformers(loaded, text):
    ours, ref, auto = loaded
    ids = ours.encode(text)
    assert ids[0] == ours.bos_id == ours.token_to_id("<|begin_of_text|>")
    assert ids == ref.encode(text).ids == auto(text).input_ids
    assert ours.encode(text, add_special_tokens=False) == ref.encode(text, add_special_tokens=False).ids == ids[1:]
    assert ours.decode(ids) == ref.decode(ids, skip_special_tokens=True) == auto.decode(ids, skip_special_tokens=True)
    assert ours.decode(ids, skip_special_tokens=False) == ref.decode(ids, skip_special_tokens=False)


def test_ignore_merges_and_added_token_options_take_effect(folder):
    ours = load_tokenizer(folder)
    assert ours.encode(" zebraquux", add_special_tokens=False) == [ours.token_to_id("Ġzebraquux")]
    mask = ours.token_to_id("<mask>")
    assert ours.encode("a  <mask>  b", add_special_tokens=False) == \
        ours.encode("a", add_special_tokens=False) + [mask] + ours.encode("b", add_special_tokens=False)
    qq = ours.token_to_id("qq")
    assert qq in ours.encode("qq alone") and qq not in ours.encode("aqq qqq")


def test_export_reloads_to_identical_ids(folder, tmp_path):
    ours = load_tokenizer(folder)
    save_hf_tokenizer(ours, tmp_path)
    ref = tokenizers.Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    auto = transformers.AutoTokenizer.from_pretrained(str(tmp_path))
    for text in TEXTS:
        assert ours.encode(text) == ref.encode(text).ids == auto(text).input_ids
    assert auto.bos_token == "<|begin_of_text|>" and auto.eos_token == "<|eot_id|>"


MESSAGES = [{"role": "system", "content": "  Be brief.  "}, {"role": "user", "content": "Hi there\n"},
            {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "Why?"}]


@pytest.mark.parametrize("messages", [MESSAGES, MESSAGES[1:]])
@pytest.mark.parametrize("add_generation_prompt", [True, False])
def test_llama3_template_matches_transformers(loaded, messages, add_generation_prompt):
    ours, _, auto = loaded
    text = ours.apply_chat_template(messages, add_generation_prompt=add_generation_prompt)
    assert text == auto.apply_chat_template(messages, add_generation_prompt=add_generation_prompt, tokenize=False)
    ids = ours.encode_chat(messages, add_generation_prompt)
    assert ids == list(auto.apply_chat_template(messages, add_generation_prompt=add_generation_prompt)["input_ids"])
    assert ids.count(ours.bos_id) == 1  # the template's BOS, not a second one from the post-processor


def test_stop_tokens_are_end_of_turn_then_eos(folder):
    ours = load_tokenizer(folder)
    assert ours.stop_token_ids == [ours.token_to_id("<|eot_id|>")]  # EOS is <|eot_id|> here
    ours.set_chat_template("chatml")  # no <|im_end|> in this vocabulary: nothing to add
    assert ours.stop_token_ids == [ours.token_to_id("<|eot_id|>")]


def test_same_vocabulary_from_gguf(spec, tmp_path):
    gguf = pytest.importorskip("gguf")
    vocab = spec["model"]["vocab"]
    size = max(max(vocab.values()), max(t["id"] for t in spec["added_tokens"])) + 1
    tokens, types = [f"[PAD{i}]" for i in range(size)], [5] * size  # 5: unused slot
    for token, i in vocab.items():
        tokens[i], types[i] = token, 1
    for added in spec["added_tokens"]:
        tokens[added["id"]], types[added["id"]] = added["content"], 3 if added["special"] else 4
    path = tmp_path / "tiny.gguf"
    writer = gguf.GGUFWriter(str(path), arch="llama")
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("llama-bpe")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges([m if isinstance(m, str) else " ".join(m) for m in spec["model"]["merges"]])
    writer.add_bos_token_id(vocab["<|begin_of_text|>"])
    writer.add_eos_token_id(vocab["<|eot_id|>"])
    writer.add_add_bos_token(True)
    writer.add_chat_template(BUILTIN_TEMPLATES["llama3"].template)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()

    ours = load_tokenizer(path)
    ref = tokenizers.Tokenizer.from_str(json.dumps(spec))
    for text in TEXTS:
        if text.startswith("e\u0301"):
            continue  # GGUF carries no normalizer (llama.cpp applies none)
        # lstrip/rstrip/single_word are not in GGUF metadata, so compare on text without <mask> or qq.
        text = text.replace("<mask>", "").replace("qq", "")
        assert ours.encode(text) == ref.encode(text).ids, text
    assert ours.stop_token_ids == [vocab["<|eot_id|>"]]
    assert ours.apply_chat_template(MESSAGES).startswith("<|begin_of_text|><|start_header_id|>system")
