"""The policy model and tokenizer an experiment config names.

`model.init = "pretrained"`: any name or path `personax.models.hub` loads (weights + tokenizer).
`model.init = "scratch"`: a registered config (e.g. `tiny`) with fresh weights from the seed and
a sentencepiece tokenizer trained in-process on the experiment's own texts (kept in the workdir,
so a resumed run reuses the same one).
"""
from __future__ import annotations

import pathlib
from typing import Callable, Iterable

import ml_collections
from flax import nnx

from personax.models import registry  # noqa: F401  (populates the config registry)
from personax.models.config import get_config
from personax.models.lora import LoRAConfig, apply_lora
from personax.models.transformer import DecoderLM


def load_base(c: ml_collections.ConfigDict, seed: int, workdir: pathlib.Path,
              texts: Callable[[], Iterable[str]] | None = None):
    """(model without adapters, tokenizer)."""
    if c.init == "pretrained":
        from personax.models import hub
        model, _, tok = hub.load(c.name, param_dtype=c.param_dtype or None, dtype=c.dtype or None)
        if tok is None:
            raise ValueError(f"model {c.name!r} ships no tokenizer; the policy needs one")
        return model, tok
    if c.init != "scratch":
        raise ValueError(f"model.init must be 'pretrained' or 'scratch', got {c.init!r}")
    from personax.tokenizers import load_tokenizer, train_sentencepiece
    tok_path = workdir / "tokenizer.model"
    if tok_path.exists():
        tok = load_tokenizer(tok_path)
    else:
        if texts is None:
            raise ValueError("model.init='scratch' needs texts to train its tokenizer on")
        workdir.mkdir(parents=True, exist_ok=True)
        tok = train_sentencepiece(texts(), tok_path, vocab_size=c.vocab_size, chat_template="chatml")
    overrides = {"vocab_size": tok.vocab_size, "max_seq_len": c.max_seq_len}
    if c.param_dtype:
        overrides |= {"param_dtype": c.param_dtype, "dtype": c.dtype or c.param_dtype}
    cfg = get_config(c.name).replace(**overrides)
    return DecoderLM(cfg, nnx.Rngs(seed)), tok


def add_adapters(model: nnx.Module, c: ml_collections.ConfigDict, seed: int) -> bool:
    """Adds LoRA when `lora.rank > 0`; returns whether it did (rank 0 = full fine-tuning)."""
    if c.rank <= 0:
        return False
    apply_lora(model, LoRAConfig(rank=c.rank, alpha=c.alpha, dropout=c.dropout, targets=c.targets),
               nnx.Rngs(params=seed + 1, dropout=seed + 2))
    return True
