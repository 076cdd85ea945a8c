"""sentencepiece: train in-process, save, load, round-trip; chat markers as single pieces."""
import json

import pytest

from personax.tokenizers import SentencePieceTokenizer, TokenizerError, load_tokenizer, train_sentencepiece

TRAIN = [f"Conversation {i}: the user prefers short answers, bullet points and examples. Score {i * 7}."
         for i in range(200)] + [
    "def add(a, b):\n    return a + b\n",
    "Café, naïve, résumé. Große Straße. 東京と大阪。",
] * 20
ROUND_TRIP = [
    "the user prefers short answers",
    "  two leading spaces, three   inside, trailing  ",
    "line one\nline two\n\n\ttabbed",
    "unseen characters: 😀 ẞ 한국어 ∑ → fall back to bytes",
    "digits 1234567890 split one by one",
    "<|im_start|>user\nHello<|im_end|>\n",
]


@pytest.fixture(scope="module", params=["bpe", "unigram"])
def trained(request, tmp_path_factory):
    path = tmp_path_factory.mktemp("spm") / f"{request.param}.model"
    return train_sentencepiece(TRAIN, path, vocab_size=500, model_type=request.param), path


def test_trains_saves_and_loads_identically(trained):
    tok, path = trained
    loaded = load_tokenizer(path)
    assert isinstance(loaded, SentencePieceTokenizer)
    assert loaded.vocab_size == tok.vocab_size <= 500
    for text in ROUND_TRIP:
        assert loaded.encode(text) == tok.encode(text)


@pytest.mark.parametrize("text", ROUND_TRIP)
def test_round_trip(trained, text):
    tok, _ = trained
    ids = tok.encode(text)
    assert ids[0] == tok.bos_id == 1 and tok.eos_id == 2 and tok.pad_id == 3
    assert tok.encode(text, add_special_tokens=False) == ids[1:]
    assert tok.decode(ids, skip_special_tokens=False) == "<s>" + text
    assert tok.decode(ids) == text.replace("<|im_start|>", "").replace("<|im_end|>", "")


def test_training_is_deterministic(tmp_path):
    for kind in ("bpe", "unigram"):
        train_sentencepiece(TRAIN, tmp_path / f"a_{kind}.model", vocab_size=400, model_type=kind)
        train_sentencepiece(iter(TRAIN), tmp_path / f"b_{kind}.model", vocab_size=400, model_type=kind)
        assert (tmp_path / f"a_{kind}.model").read_bytes() == (tmp_path / f"b_{kind}.model").read_bytes()


def test_chat_markers_are_single_special_pieces(trained):
    tok, _ = trained
    start, end = tok.token_to_id("<|im_start|>"), tok.token_to_id("<|im_end|>")
    assert None not in (start, end)
    messages = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]
    text = tok.apply_chat_template(messages)
    assert text == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n<|im_start|>assistant\n"
    ids = tok.encode_chat(messages)
    assert ids.count(start) == 3 and ids.count(end) == 2 and tok.bos_id not in ids
    assert tok.decode(ids, skip_special_tokens=False) == text
    assert tok.stop_token_ids == [end, tok.eos_id]


def test_gemma_markers_select_gemma_template(tmp_path):
    path = tmp_path / "gemma_like.model"
    train_sentencepiece(TRAIN, path, vocab_size=400, chat_template="gemma")
    tok = load_tokenizer(path)  # nothing but the vocabulary says which template fits
    text = tok.apply_chat_template([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                                    {"role": "assistant", "content": "Hello"}])
    assert text == ("<s><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello<end_of_turn>\n"
                    "<start_of_turn>model\n")
    ids = tok.encode_chat([{"role": "user", "content": "Hi"}])
    assert ids[0] == tok.bos_id and ids.count(tok.bos_id) == 1  # the template's "<s>" text is the BOS piece
    assert tok.stop_token_ids == [tok.token_to_id("<end_of_turn>"), tok.eos_id]


def test_hf_folder_config_sets_template_and_bos_policy(trained, tmp_path):
    tok, path = trained
    (tmp_path / "tokenizer.model").write_bytes(path.read_bytes())
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(
        {"add_bos_token": False, "add_eos_token": True, "chat_template": "{{ messages[0]['content'] }}!"}))
    folder_tok = load_tokenizer(tmp_path)
    assert folder_tok.encode("hi") == tok.encode("hi", add_special_tokens=False) + [tok.eos_id]
    assert folder_tok.apply_chat_template([{"role": "user", "content": "x"}]) == "x!"


def test_errors(tmp_path):
    bad = tmp_path / "bad.model"
    bad.write_bytes(b"definitely not a protobuf")
    with pytest.raises(TokenizerError, match="bad.model.*sentencepiece"):
        load_tokenizer(bad)
    with pytest.raises(ValueError, match="model_type"):
        train_sentencepiece(TRAIN, tmp_path / "x.model", vocab_size=300, model_type="wordpiece")
    with pytest.raises(ValueError, match="training failed for .*x.model.*Vocabulary size too high"):
        train_sentencepiece(["tiny"], tmp_path / "x.model", vocab_size=5000, model_type="bpe")
    tok = train_sentencepiece(TRAIN, tmp_path / "ok.model", vocab_size=400)
    with pytest.raises(IndexError, match="token id 400"):
        tok.decode([400])


def test_bpe_model_exports_to_transformers(tmp_path):
    transformers = pytest.importorskip("transformers")
    from personax.tokenizers import save_hf_tokenizer

    tok = train_sentencepiece(TRAIN, tmp_path / "m.model", vocab_size=500, model_type="bpe")
    save_hf_tokenizer(tok, tmp_path / "hf")
    auto = transformers.AutoTokenizer.from_pretrained(str(tmp_path / "hf"))
    again = load_tokenizer(tmp_path / "hf")
    assert len(auto) == tok.vocab_size and (auto.bos_token_id, auto.eos_token_id) == (tok.bos_id, tok.eos_id)
    for text in ROUND_TRIP + ["Hello <s> there</s>", " ", "▁ literal"]:
        ids = tok.encode(text)
        assert ids == auto(text).input_ids == again.encode(text)
        for skip in (True, False):
            assert tok.decode(ids, skip_special_tokens=skip) == auto.decode(ids, skip_special_tokens=skip)
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    assert tok.apply_chat_template(messages) == auto.apply_chat_template(messages, tokenize=False,
                                                                         add_generation_prompt=True)
    assert tok.encode_chat(messages) == list(auto.apply_chat_template(messages, add_generation_prompt=True)["input_ids"])


def test_unigram_export_is_refused(tmp_path):
    from personax.tokenizers import save_hf_tokenizer

    tok = train_sentencepiece(TRAIN, tmp_path / "unigram.model", vocab_size=400, model_type="unigram")
    with pytest.raises(ValueError, match="unigram.model: only sentencepiece BPE"):
        save_hf_tokenizer(tok, tmp_path)


@pytest.mark.parametrize("dummy_prefix", [False, True])
def test_sentencepiece_rebuilt_from_gguf_metadata(tmp_path, dummy_prefix):
    gguf = pytest.importorskip("gguf")
    tok = train_sentencepiece(TRAIN, tmp_path / "m.model", vocab_size=500, add_dummy_prefix=dummy_prefix,
                              chat_template="gemma")
    pieces = tok.proto.pieces
    writer = gguf.GGUFWriter(str(tmp_path / "spm.gguf"), arch="gemma")
    writer.add_tokenizer_model("llama")
    writer.add_token_list([p.piece for p in pieces])
    writer.add_token_scores([p.score for p in pieces])
    writer.add_token_types([p.type for p in pieces])
    for add, token_id in ((writer.add_unk_token_id, 0), (writer.add_bos_token_id, 1), (writer.add_eos_token_id, 2),
                          (writer.add_pad_token_id, 3)):
        add(token_id)
    writer.add_add_bos_token(True)
    writer.add_add_space_prefix(dummy_prefix)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()

    rebuilt = load_tokenizer(tmp_path / "spm.gguf")
    assert isinstance(rebuilt, SentencePieceTokenizer)
    assert (rebuilt.bos_id, rebuilt.eos_id, rebuilt.pad_id, rebuilt.vocab_size) == (1, 2, 3, tok.vocab_size)
    for text in ROUND_TRIP + ["<start_of_turn>user\nHi<end_of_turn>\n", "<s> control text </s>"]:
        ids = tok.encode(text)
        assert rebuilt.encode(text) == ids
        assert rebuilt.decode(ids, skip_special_tokens=False) == tok.decode(ids, skip_special_tokens=False)
    assert rebuilt.stop_token_ids == [rebuilt.token_to_id("<end_of_turn>"), 2]  # gemma markers detected
