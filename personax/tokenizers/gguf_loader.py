"""Tokenizers from GGUF metadata: byte-level BPE (`tokenizer.ggml.model == "gpt2"`) here, sentencepiece
(`"llama"`) in `gguf_sentencepiece`."""
from __future__ import annotations

import pathlib

from personax.tokenizers.added_tokens import AddedToken
from personax.tokenizers.base import Tokenizer, TokenizerError
from personax.tokenizers.bpe_tokenizer import BPETokenizer
from personax.tokenizers.gguf_sentencepiece import sentencepiece_from_fields

_LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                   r"|\s*[\r\n]+|\s+(?!\S)|\s+")
_QWEN2_PATTERN = _LLAMA3_PATTERN.replace(r"\p{N}{1,3}", r"\p{N}")


def _regex_then_bytes(pattern: str) -> dict:
    return {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": pattern}, "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]}


_GPT2 = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
# Digits one at a time, then GPT-2's regex: what the StarCoder-family `tokenizer.json` files (SmolLM2) declare.
_DIGITS_GPT2 = {"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": True}, _GPT2]}

# `tokenizer.ggml.pre` (llama.cpp's name for the pre-tokenizer) -> (the HF pre_tokenizer spec it stands for,
# ignore_merges). Llama-3 emits a whole word that is in the vocabulary without merging, in HF and llama.cpp alike.
GGUF_PRE_TOKENIZERS: dict[str, tuple[dict, bool]] = {
    "default": (_GPT2, False), "gpt-2": (_GPT2, False), "gpt2": (_GPT2, False),
    "smollm": (_DIGITS_GPT2, False), "starcoder": (_DIGITS_GPT2, False), "refact": (_DIGITS_GPT2, False),
    "llama-bpe": (_regex_then_bytes(_LLAMA3_PATTERN), True), "llama3": (_regex_then_bytes(_LLAMA3_PATTERN), True),
    "qwen2": (_regex_then_bytes(_QWEN2_PATTERN), False),
    "deepseek-r1-qwen": (_regex_then_bytes(_QWEN2_PATTERN), False),
}
_CONTROL, _USER_DEFINED = 3, 4  # llama.cpp token types that are added tokens rather than BPE tokens


def read_fields(path: pathlib.Path, reader=None) -> dict:
    """The `tokenizer.*` metadata; pass an open `gguf.GGUFReader` to skip re-indexing the file (seconds)."""
    import gguf  # heavy import, only needed here

    if reader is None:
        if not path.is_file():
            raise TokenizerError(f"{path}: file not found; expected a GGUF model file")
        try:
            reader = gguf.GGUFReader(str(path))
        except Exception as e:  # ValueError/struct errors/OSError for a truncated or foreign file
            raise TokenizerError(f"{path}: not a readable GGUF file ({type(e).__name__}: {e})") from None
    return {k: f.contents() for k, f in reader.fields.items() if k.startswith("tokenizer.")}


def _post_processor(bos: str | None, eos: str | None, add_bos: bool, add_eos: bool, ids: dict) -> dict:
    single, specials = [], {}
    for token, add in ((bos, add_bos), (eos, add_eos)):
        if add and token is not None:
            specials[token] = {"id": token, "ids": [ids[token]], "tokens": [token]}
    if bos in specials:
        single.append({"SpecialToken": {"id": bos, "type_id": 0}})
    single.append({"Sequence": {"id": "A", "type_id": 0}})
    if eos in specials:
        single.append({"SpecialToken": {"id": eos, "type_id": 0}})
    return {"type": "TemplateProcessing", "single": single,
            "pair": single + [{"Sequence": {"id": "B", "type_id": 1}}], "special_tokens": specials}


def bpe_from_fields(meta: dict, path: pathlib.Path) -> BPETokenizer:
    pre = meta.get("tokenizer.ggml.pre", "default")
    if pre not in GGUF_PRE_TOKENIZERS:
        raise TokenizerError(f"{path}: tokenizer.ggml.pre {pre!r} is not supported; expected one of "
                             f"{sorted(GGUF_PRE_TOKENIZERS)}")
    tokens: list[str] = list(meta["tokenizer.ggml.tokens"])
    types = list(meta.get("tokenizer.ggml.token_type") or [1] * len(tokens))
    merges = [tuple(m.split(" ", 1)) for m in meta.get("tokenizer.ggml.merges", [])]

    def special(key: str) -> str | None:
        token_id = meta.get(f"tokenizer.ggml.{key}_token_id")
        return None if token_id is None or not 0 <= token_id < len(tokens) else tokens[token_id]

    bos, eos = special("bos"), special("eos")
    added = [AddedToken(t, i, special=(types[i] == _CONTROL)) for i, t in enumerate(tokens)
             if types[i] in (_CONTROL, _USER_DEFINED)]
    # Added tokens keep their raw text in the vocabulary, not byte-level characters.
    vocab = {t: i for i, t in enumerate(tokens)}
    post = _post_processor(bos, eos, bool(meta.get("tokenizer.ggml.add_bos_token", False)),
                           bool(meta.get("tokenizer.ggml.add_eos_token", False)), vocab)
    pre_tokenizer, ignore_merges = GGUF_PRE_TOKENIZERS[pre]
    return BPETokenizer(
        vocab=vocab, merges=merges, added_tokens=added, normalizer=None, pre_tokenizer=pre_tokenizer,
        post_processor=post, ignore_merges=ignore_merges, chat_template=meta.get("tokenizer.chat_template"),
        specials={"bos_token": bos, "eos_token": eos, "unk_token": special("unknown"), "pad_token": special("padding")},
        source=str(path))


def load_gguf(path: str | pathlib.Path, reader=None) -> Tokenizer:
    """The tokenizer embedded in a GGUF file; `reader`: the file's `gguf.GGUFReader` if one is already open."""
    builders = {"gpt2": bpe_from_fields, "llama": sentencepiece_from_fields}
    path = pathlib.Path(path)
    meta = read_fields(path, reader)
    kind = meta.get("tokenizer.ggml.model")
    if "tokenizer.ggml.tokens" not in meta:
        raise TokenizerError(f"{path}: no tokenizer.ggml.tokens in the GGUF metadata; expected an embedded tokenizer")
    if kind not in builders:
        raise TokenizerError(f"{path}: tokenizer.ggml.model is {kind!r}; expected one of {sorted(builders)} "
                             "(byte-level BPE, sentencepiece)")
    return builders[kind](meta, path)
