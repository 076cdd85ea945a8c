"""Tensors and config of a llama.cpp GGUF file (Llama, Qwen2, Qwen3 architectures).

Tensors are dequantized to f32 by the `gguf` package and renamed to HF names, so the same
filler loads both formats. llama.cpp stores Llama's Q/K rows permuted for interleaved-pair RoPE;
they are permuted back here to the HF half-split layout that personax's RoPE uses.
"""
from __future__ import annotations

import pathlib
import re

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize

from personax.models.config import ModelConfig
from personax.models.weights.errors import ModelLoadError
from personax.models.weights.gguf_config import config_from_gguf

_RENAMES = [(re.compile(a), b) for a, b in [
    (r"token_embd\.weight", "model.embed_tokens.weight"),
    (r"output_norm\.weight", "model.norm.weight"),
    (r"output\.weight", "lm_head.weight"),
    (r"blk\.(\d+)\.attn_norm\.weight", r"model.layers.\1.input_layernorm.weight"),
    (r"blk\.(\d+)\.attn_(q|k|v)\.(weight|bias)", r"model.layers.\1.self_attn.\2_proj.\3"),
    (r"blk\.(\d+)\.attn_output\.weight", r"model.layers.\1.self_attn.o_proj.weight"),
    (r"blk\.(\d+)\.attn_(q|k)_norm\.weight", r"model.layers.\1.self_attn.\2_norm.weight"),
    (r"blk\.(\d+)\.ffn_norm\.weight", r"model.layers.\1.post_attention_layernorm.weight"),
    (r"blk\.(\d+)\.ffn_(gate|up|down)\.weight", r"model.layers.\1.mlp.\2_proj.weight"),
]]
# Consumed by the config (Llama 3 RoPE frequency factors), not a parameter.
_CONFIG_ONLY = {"rope_freqs.weight"}


def _hf_name(gguf_name: str) -> str:
    for pattern, repl in _RENAMES:
        if pattern.fullmatch(gguf_name):
            return pattern.sub(repl, gguf_name)
    return gguf_name  # left as is: the loader reports it as unexpected


def open_gguf(path: pathlib.Path) -> GGUFReader:
    try:
        return GGUFReader(path)
    except (ValueError, OSError, IndexError, KeyError) as e:
        raise ModelLoadError(f"{path}: not a readable GGUF file ({type(e).__name__}: {e})") from None


class GGUFSource:
    def __init__(self, path: pathlib.Path, reader: GGUFReader | None = None):
        self.origin = str(path)
        self._reader = reader or open_gguf(path)
        self.cfg: ModelConfig = config_from_gguf(self._reader, self.origin)
        self._tensors = {_hf_name(t.name): t for t in self._reader.tensors if t.name not in _CONFIG_ONLY}
        self._permuted = self.cfg.family == "llama"

    def names(self) -> set[str]:
        return set(self._tensors)

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(int(n) for n in reversed(self._tensors[name].shape))  # GGUF lists dims fastest-first

    def get(self, name: str) -> np.ndarray:
        t = self._tensors[name]
        try:
            x = dequantize(t.data, t.tensor_type).reshape(self.shape(name)).astype(np.float32)
        except (ValueError, NotImplementedError) as e:
            raise ModelLoadError(f"{self.origin}: cannot dequantize tensor {t.name!r} "
                                 f"({t.tensor_type.name}): {e}") from None
        if self._permuted and name.endswith(("q_proj.weight", "k_proj.weight")):
            heads = self.cfg.n_heads if name.endswith("q_proj.weight") else self.cfg.n_kv_heads
            x = unpermute_rows(x, heads)
        return x


def unpermute_rows(w_OxI: np.ndarray, n_heads: int) -> np.ndarray:
    """Inverse of llama.cpp's permutation: per head, rows (pair j, member s) -> (half s, index j)."""
    out, rest = w_OxI.shape[0], w_OxI.shape[1:]
    half = out // n_heads // 2
    return w_OxI.reshape(n_heads, half, 2, *rest).swapaxes(1, 2).reshape(out, *rest)
