"""Build a `DecoderLM` straight from a tensor source, without a random init first.

`nnx.eval_shape` gives the abstract state (shapes and dtypes only); every leaf is then read from
the source, checked, transposed where torch and personax differ, cast to the config's parameter
dtype and placed. Nothing of size `model` exists before the real weights arrive.
"""
from __future__ import annotations

from typing import Callable, Protocol

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from personax.models.config import ModelConfig
from personax.models.transformer import DecoderLM
from personax.models.weights.errors import ModelLoadError
from personax.models.weights.layout import hf_layout
from personax.treepath import map_with_names

# Stored by some exporters but derived, never parameters.
_IGNORED_SUFFIXES = ("rotary_emb.inv_freq",)

Place = Callable[[str, np.ndarray], jax.Array]  # (personax path, host array) -> device array


class TensorSource(Protocol):
    origin: str

    def names(self) -> set[str]: ...
    def shape(self, name: str) -> tuple[int, ...]: ...
    def get(self, name: str) -> np.ndarray: ...


def _check_names(cfg: ModelConfig, source: TensorSource) -> None:
    wanted = {e.hf for e in hf_layout(cfg)}
    have = source.names()
    missing = sorted(wanted - have)
    if missing:
        raise ModelLoadError(f"{source.origin}: {len(missing)} tensor(s) missing for a {cfg.family} model with "
                             f"{cfg.n_layers} layers: {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")
    # A tied checkpoint may still carry a copy of the embedding as lm_head.
    extra = sorted(n for n in have - wanted if not n.endswith(_IGNORED_SUFFIXES)
                   and not (cfg.tie_embeddings and n == "lm_head.weight"))
    if extra:
        raise ModelLoadError(f"{source.origin}: {len(extra)} tensor(s) the {cfg.family} config does not use "
                             f"(does config.json match the weights?): {', '.join(extra[:5])}")


def load_model(cfg: ModelConfig, source: TensorSource, place: Place | None = None) -> DecoderLM:
    _check_names(cfg, source)
    graphdef, abstract = nnx.split(nnx.eval_shape(lambda: DecoderLM(cfg, nnx.Rngs(0))))
    entries = {e.path: e for e in hf_layout(cfg)}
    place = place or (lambda _, x: jnp.asarray(x))

    def read(path: str, leaf: jax.ShapeDtypeStruct) -> jax.Array:
        entry = entries[path]
        want = leaf.shape[::-1] if entry.linear else leaf.shape
        found = source.shape(entry.hf)
        if found != tuple(want):
            raise ModelLoadError(f"{source.origin}: tensor {entry.hf} has shape {list(found)}, expected "
                                 f"{list(want)} for the {cfg.family} config (d_model={cfg.d_model}, "
                                 f"heads={cfg.n_heads}/{cfg.n_kv_heads}x{cfg.head_dim}, ffn={cfg.ffn_dim}, "
                                 f"vocab={cfg.vocab_size})")
        x = source.get(entry.hf)
        return place(path, np.ascontiguousarray(x.T if entry.linear else x).astype(leaf.dtype, copy=False))

    return nnx.merge(graphdef, map_with_names(read, abstract))
