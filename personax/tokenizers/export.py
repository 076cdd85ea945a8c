"""`save_hf_tokenizer`: write any personax tokenizer as files `transformers.AutoTokenizer` loads identically."""
from __future__ import annotations

import json
import pathlib

from personax.tokenizers.base import Tokenizer
from personax.tokenizers.bpe_tokenizer import BPETokenizer
from personax.tokenizers.hf_json import write_bpe_files
from personax.tokenizers.sentencepiece_tokenizer import SentencePieceTokenizer

_BPE_MODEL_TYPE = 2  # sentencepiece TrainerSpec.ModelType.BPE


def write_sentencepiece_files(tokenizer: SentencePieceTokenizer, directory: pathlib.Path) -> list[pathlib.Path]:
    """`tokenizer.model` + a config naming GemmaTokenizer, whose conversion (BPE merges from the model, no
    dummy prefix, byte fallback) reproduces our ids; it fits sentencepiece BPE models trained here."""
    proto = tokenizer.proto
    normalizer = proto.normalizer_spec
    if proto.trainer_spec.model_type != _BPE_MODEL_TYPE or normalizer.add_dummy_prefix \
            or normalizer.name != "identity" or not proto.trainer_spec.byte_fallback:
        raise ValueError(
            f"{tokenizer.source}: only sentencepiece BPE models with identity normalization, no dummy prefix and "
            "byte fallback (what train_sentencepiece(model_type='bpe') makes) export to transformers identically")
    specials = tokenizer.special_tokens_map
    config = {"tokenizer_class": "GemmaTokenizer", **specials, "mask_token": None,
              "add_bos_token": tokenizer.add_bos, "add_eos_token": tokenizer.add_eos,
              # Listed so that transformers, like us, drops the chat markers under skip_special_tokens.
              "extra_special_tokens": tokenizer.user_defined_pieces, "clean_up_tokenization_spaces": False}
    if tokenizer.chat_template is not None:
        config["chat_template"] = tokenizer.chat_template
    paths = [directory / "tokenizer.model", directory / "tokenizer_config.json"]
    paths[0].write_bytes(tokenizer.model_proto)
    paths[1].write_text(json.dumps(config, ensure_ascii=False, indent=1), encoding="utf-8")
    return paths


_WRITERS = {BPETokenizer: write_bpe_files, SentencePieceTokenizer: write_sentencepiece_files}


def save_hf_tokenizer(tokenizer: Tokenizer, directory: str | pathlib.Path) -> list[pathlib.Path]:
    """Write the tokenizer into `directory` for `transformers.AutoTokenizer` (and, for BPE, the `tokenizers`
    library): same ids, decode and chat text. Returns the written paths; `load_tokenizer(directory)` reads
    them back."""
    writer = _WRITERS.get(type(tokenizer))
    if writer is None:
        raise TypeError(f"save_hf_tokenizer has no writer for {type(tokenizer).__name__}; "
                        f"expected one of {[t.__name__ for t in _WRITERS]}")
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    return writer(tokenizer, directory)
