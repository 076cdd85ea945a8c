"""Chat-template rendering rules and the errors a bad file or bad input gets."""
import json

import jinja2
import pytest

from personax.tokenizers import BUILTIN_TEMPLATES, TokenizerError, byte_level, load_tokenizer, save_hf_tokenizer
from personax.tokenizers.added_tokens import AddedToken

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello"}]


def tiny_spec() -> dict:
    vocab = {c: i for i, c in enumerate(byte_level.byte_to_char())}
    vocab.update({"Ġt": 256, "he": 257, "Ġthe": 258})
    return {
        "version": "1.0",
        "added_tokens": [AddedToken("<|im_start|>", 259).to_json(), AddedToken("<|im_end|>", 260).to_json()],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "use_regex": True},
        "post_processor": None,
        "decoder": {"type": "ByteLevel"},
        "model": {"type": "BPE", "vocab": vocab, "merges": [["Ġ", "t"], ["h", "e"], ["Ġt", "he"]]},
    }


def write(folder, spec=None, config=None):
    folder.mkdir(exist_ok=True)
    (folder / "tokenizer.json").write_text(json.dumps(spec or tiny_spec()))
    if config is not None:
        (folder / "tokenizer_config.json").write_text(json.dumps(config))
    return folder


def test_hand_computed_merges(tmp_path):
    tok = load_tokenizer(write(tmp_path / "t", config={"eos_token": "<|im_end|>"}))
    assert tok.encode(" the the") == [258, 258]
    assert tok.encode("the") == [tok.token_to_id("t"), 257]  # no "t he" merge: only "h e" applies
    assert tok.encode("<|im_start|> the") == [259, 258]
    assert tok.decode([259, 258, 260]) == " the" and tok.decode([259, 258], skip_special_tokens=False) == \
        "<|im_start|> the"
    assert tok.bos_id is None and tok.eos_id == 260 and tok.pad_id == 260  # no pad token: EOS pads
    # No template shipped, but the vocabulary has ChatML's markers.
    assert tok.chat_template == BUILTIN_TEMPLATES["chatml"].template
    assert tok.stop_token_ids == [260]


def test_builtin_templates_render_their_formats(tmp_path):
    tok = load_tokenizer(write(tmp_path / "t", config={"bos_token": "<|im_start|>"}))
    tok.set_chat_template("chatml")
    assert tok.apply_chat_template(MESSAGES, add_generation_prompt=False) == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
        "<|im_start|>assistant\nHello<|im_end|>\n")
    tok.set_chat_template("llama3")
    assert tok.apply_chat_template(MESSAGES[1:2]) == (
        "<|im_start|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n")
    tok.set_chat_template("gemma")
    assert tok.apply_chat_template(MESSAGES[:2]) == (
        "<|im_start|><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\n")


def test_template_globals_match_transformers(tmp_path):
    template = ("{% for m in messages %}{{ m | tojson }}{% endfor %}{{ bos_token }}"
                "{% if messages|length > 1 %}{{ raise_exception('only one message, got ' ~ messages|length) }}"
                "{% endif %}")
    tok = load_tokenizer(write(tmp_path / "t", config={"bos_token": "<|im_start|>", "chat_template": template}))
    assert tok.apply_chat_template([{"role": "user", "content": "<b>&é"}]) == \
        '{"role": "user", "content": "<b>&é"}<|im_start|>'  # no HTML escaping, no ASCII escaping
    with pytest.raises(jinja2.exceptions.TemplateError, match="only one message, got 2"):
        tok.apply_chat_template(MESSAGES[:2])


def test_generation_tag_and_loop_controls_render_like_transformers(tmp_path):
    transformers = pytest.importorskip("transformers")
    template = ("{% for m in messages %}{% if m.role == 'system' %}{% continue %}{% endif %}"
                "{% if m.role == 'assistant' %}{% generation %}[{{ m.content }}]{% endgeneration %}"
                "{% else %}{{ m.content }}\n{% endif %}\n{% endfor %}")
    tok = load_tokenizer(write(tmp_path / "t", config={"chat_template": template}))
    save_hf_tokenizer(tok, tmp_path / "hf")  # our loader is lenient; transformers wants every field
    expected = transformers.AutoTokenizer.from_pretrained(str(tmp_path / "hf")).apply_chat_template(
        MESSAGES, tokenize=False, add_generation_prompt=False)
    assert tok.apply_chat_template(MESSAGES, add_generation_prompt=False) == expected == "Hi\n[Hello]"  # trim_blocks


def test_extra_template_variables_pass_through(tmp_path):
    tok = load_tokenizer(write(tmp_path / "t"))
    tok.set_chat_template("{{ tools | length }} tools, thinking={{ enable_thinking }}, docs={{ documents }}")
    assert tok.apply_chat_template(MESSAGES, tools=[{"name": "f"}], enable_thinking=False) == \
        "1 tools, thinking=False, docs=None"


def test_sandbox_blocks_attribute_escape(tmp_path):
    tok = load_tokenizer(write(tmp_path / "t"))
    tok.set_chat_template("{{ messages.__class__.__mro__ }}")
    with pytest.raises(jinja2.exceptions.SecurityError):
        tok.apply_chat_template(MESSAGES)


def test_bad_messages_and_template_names(tmp_path):
    tok = load_tokenizer(write(tmp_path / "t"))
    with pytest.raises(ValueError, match=r"messages\[1\]"):
        tok.apply_chat_template([{"role": "user", "content": "x"}, {"role": "user"}])
    with pytest.raises(TypeError, match="list of"):
        tok.apply_chat_template("hello")
    with pytest.raises(ValueError, match="unknown chat template 'vicuna'"):
        tok.set_chat_template("vicuna")


def test_no_template_is_a_clear_error(tmp_path):
    spec = tiny_spec()
    spec["added_tokens"] = []
    tok = load_tokenizer(write(tmp_path / "t", spec))
    with pytest.raises(TokenizerError, match="no chat template.*chatml"):
        tok.apply_chat_template(MESSAGES)
    assert tok.stop_token_ids == []
    with pytest.raises(IndexError, match="token id 999"):
        tok.decode([999])


@pytest.mark.parametrize("mutate, message", [
    (lambda s: s["model"].update(type="WordPiece"), "model type 'WordPiece' is not supported"),
    (lambda s: s.update(pre_tokenizer={"type": "Metaspace"}), "no ByteLevel step"),
    (lambda s: s.update(pre_tokenizer={"type": "Sequence", "pretokenizers": [
        {"type": "Whitespace"}, {"type": "ByteLevel"}]}), "pre_tokenizer type 'Whitespace' is not supported"),
    (lambda s: s.update(normalizer={"type": "Precompiled"}), "normalizer type 'Precompiled'"),
    (lambda s: s.update(decoder={"type": "Metaspace"}), "decoder 'Metaspace'"),
    (lambda s: s["model"]["merges"].append("a b c"), r"model.merges\[3\]"),
    (lambda s: s.update(post_processor={"type": "TemplateProcessing", "single": [
        {"SpecialToken": {"id": "<s>"}}, {"Sequence": {"id": "A"}}], "special_tokens": {}}), "'<s>' missing"),
])
def test_bad_tokenizer_json(tmp_path, mutate, message):
    spec = tiny_spec()
    mutate(spec)
    with pytest.raises(TokenizerError, match=f"tokenizer.json.*{message}"):
        load_tokenizer(write(tmp_path / "t", spec))


def test_bad_files_and_folders(tmp_path):
    with pytest.raises(TokenizerError, match="nope.gguf: no such file"):
        load_tokenizer(tmp_path / "nope.gguf")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "tokenizer.json").write_text("{not json")
    with pytest.raises(TokenizerError, match="broken/tokenizer.json: not valid JSON"):
        load_tokenizer(tmp_path / "broken")
    (tmp_path / "empty").mkdir()
    with pytest.raises(TokenizerError, match="empty: expected tokenizer.json, tokenizer.model or one .gguf"):
        load_tokenizer(tmp_path / "empty")
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(TokenizerError, match="notes.txt: unrecognised tokenizer file"):
        load_tokenizer(tmp_path / "notes.txt")
    (tmp_path / "junk.gguf").write_bytes(b"GGUF" + b"\x00" * 7)
    with pytest.raises(TokenizerError, match="junk.gguf: not a readable GGUF file"):
        load_tokenizer(tmp_path / "junk.gguf")
    write(tmp_path / "badcfg", config=None)
    (tmp_path / "badcfg" / "tokenizer_config.json").write_text("[1, 2]")
    with pytest.raises(TokenizerError, match="tokenizer_config.json: expected a JSON object"):
        load_tokenizer(tmp_path / "badcfg")
    with pytest.raises(TokenizerError, match="bos_token '<nope>' is not in the vocabulary"):
        load_tokenizer(write(tmp_path / "badbos", config={"bos_token": "<nope>"}))


def _gguf_with(path, model: str, pre: str):
    gguf = pytest.importorskip("gguf")
    writer = gguf.GGUFWriter(str(path), arch="llama")
    writer.add_tokenizer_model(model)
    writer.add_tokenizer_pre(pre)
    writer.add_token_list(list(byte_level.byte_to_char()))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_unsupported_gguf_tokenizers(tmp_path):
    with pytest.raises(TokenizerError, match=r"wp.gguf: tokenizer.ggml.model is 'bert'; expected one of \['gpt2'"):
        load_tokenizer(_gguf_with(tmp_path / "wp.gguf", "bert", "default"))
    with pytest.raises(TokenizerError, match="spm.gguf: not a valid sentencepiece model.*unk is not defined"):
        load_tokenizer(_gguf_with(tmp_path / "spm.gguf", "llama", "default"))
    with pytest.raises(TokenizerError, match="odd.gguf: tokenizer.ggml.pre 'mystery' is not supported"):
        load_tokenizer(_gguf_with(tmp_path / "odd.gguf", "gpt2", "mystery"))
    gguf = pytest.importorskip("gguf")
    writer = gguf.GGUFWriter(str(tmp_path / "bare.gguf"), arch="llama")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(TokenizerError, match="bare.gguf: no tokenizer.ggml.tokens"):
        load_tokenizer(tmp_path / "bare.gguf")
    tok = load_tokenizer(_gguf_with(tmp_path / "ok.gguf", "gpt2", "gpt-2"))
    assert tok.decode(tok.encode("any text, ünïcode 😀")) == "any text, ünïcode 😀"  # bytes alone suffice
