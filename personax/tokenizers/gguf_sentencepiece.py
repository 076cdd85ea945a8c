"""A sentencepiece model rebuilt from GGUF metadata (`tokenizer.ggml.model == "llama"`: Llama-2, Gemma, ...).

GGUF keeps every piece with its score and type (llama.cpp uses sentencepiece's type numbers), which is all a
sentencepiece BPE model holds besides its normalizer settings.
"""
from __future__ import annotations

import pathlib

from sentencepiece import sentencepiece_model_pb2

from personax.tokenizers.base import TokenizerError
from personax.tokenizers.sentencepiece_tokenizer import SentencePieceTokenizer

_Proto = sentencepiece_model_pb2.ModelProto
_BYTE = _Proto.SentencePiece.BYTE


def _model_proto(meta: dict, path: pathlib.Path) -> bytes:
    tokens = list(meta["tokenizer.ggml.tokens"])
    scores = list(meta.get("tokenizer.ggml.scores") or [0.0] * len(tokens))
    types = list(meta.get("tokenizer.ggml.token_type") or [_Proto.SentencePiece.NORMAL] * len(tokens))
    if not len(tokens) == len(scores) == len(types):
        raise TokenizerError(f"{path}: tokenizer.ggml.tokens/scores/token_type lengths differ "
                             f"({len(tokens)}, {len(scores)}, {len(types)}); expected one entry per token")
    proto = _Proto()
    for token, score, kind in zip(tokens, scores, types):
        proto.pieces.add(piece=token, score=float(score), type=int(kind))
    spec = proto.trainer_spec
    spec.model_type = sentencepiece_model_pb2.TrainerSpec.BPE
    spec.byte_fallback = _BYTE in types
    for name, gguf_name in (("unk", "unknown"), ("bos", "bos"), ("eos", "eos"), ("pad", "padding")):
        token_id = meta.get(f"tokenizer.ggml.{gguf_name}_token_id")
        valid = token_id is not None and 0 <= token_id < len(tokens)
        setattr(spec, f"{name}_id", int(token_id) if valid else -1)
        if valid:
            setattr(spec, f"{name}_piece", tokens[token_id])
    norm = proto.normalizer_spec
    norm.name = "identity"
    norm.add_dummy_prefix = bool(meta.get("tokenizer.ggml.add_space_prefix", True))  # llama.cpp's default
    norm.remove_extra_whitespaces = False
    norm.escape_whitespaces = True
    return proto.SerializeToString()


def sentencepiece_from_fields(meta: dict, path: pathlib.Path) -> SentencePieceTokenizer:
    return SentencePieceTokenizer(
        _model_proto(meta, path), source=str(path), chat_template=meta.get("tokenizer.chat_template"),
        add_bos=bool(meta.get("tokenizer.ggml.add_bos_token", True)),
        add_eos=bool(meta.get("tokenizer.ggml.add_eos_token", False)))
