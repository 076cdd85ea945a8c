"""`load_tokenizer`: pick the right reader for a GGUF file, an HF folder, or a sentencepiece model."""
from __future__ import annotations

import pathlib

from personax.tokenizers.base import Tokenizer, TokenizerError
from personax.tokenizers.gguf_loader import load_gguf
from personax.tokenizers.hf_json import load_hf_bpe, read_config
from personax.tokenizers.sentencepiece_tokenizer import SentencePieceTokenizer

_EXPECTED = "a .gguf file, a sentencepiece .model file, a tokenizer.json, or a folder holding one of them"


def _sentencepiece(model_file: pathlib.Path) -> SentencePieceTokenizer:
    # In an HF folder, tokenizer_config.json beside tokenizer.model carries the chat template and BOS/EOS policy.
    template, config = None, {}
    if model_file.name == "tokenizer.model":
        _, template, config = read_config(model_file.parent)
    return SentencePieceTokenizer.from_file(model_file, chat_template=template,
                                            add_bos=bool(config.get("add_bos_token", True)),
                                            add_eos=bool(config.get("add_eos_token", False)))


def _from_folder(folder: pathlib.Path) -> Tokenizer:
    if (folder / "tokenizer.json").is_file():
        return load_hf_bpe(folder / "tokenizer.json")
    if (folder / "tokenizer.model").is_file():
        return _sentencepiece(folder / "tokenizer.model")
    ggufs = sorted(folder.glob("*.gguf"))
    if len(ggufs) == 1:
        return load_gguf(ggufs[0])
    found = f"{len(ggufs)} .gguf files (name one)" if ggufs else "none of them"
    raise TokenizerError(f"{folder}: expected tokenizer.json, tokenizer.model or one .gguf file; found {found}")


def load_tokenizer(path: str | pathlib.Path, chat_template: str | None = None) -> Tokenizer:
    """Load any supported tokenizer; `chat_template` (a built-in name or jinja source) overrides the shipped one."""
    path = pathlib.Path(path)
    if path.is_dir():
        tokenizer = _from_folder(path)
    elif not path.exists():
        raise TokenizerError(f"{path}: no such file or folder; expected {_EXPECTED}")
    elif path.suffix == ".gguf":
        tokenizer = load_gguf(path)
    elif path.suffix == ".model":
        tokenizer = _sentencepiece(path)
    elif path.suffix == ".json":
        tokenizer = load_hf_bpe(path)
    else:
        raise TokenizerError(f"{path}: unrecognised tokenizer file; expected {_EXPECTED}")
    if chat_template is not None:
        tokenizer.set_chat_template(chat_template)
    return tokenizer
