"""GGUF metadata -> `ModelConfig` (keys are `<architecture>.<name>`, as llama.cpp writes them)."""
from __future__ import annotations

from typing import Any

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize

from personax.models.config import ModelConfig, RopeScaling
from personax.models.layers import rope_inv_freq
from personax.models.weights.errors import ModelLoadError, build_config

_FAMILIES = {"llama": "llama", "qwen2": "qwen2", "qwen3": "qwen3"}  # general.architecture -> family


def _field(reader: GGUFReader, key: str, default: Any = None) -> Any:
    field = reader.fields.get(key)
    return default if field is None else field.contents()


def config_from_gguf(reader: GGUFReader, origin: str) -> ModelConfig:
    arch = _field(reader, "general.architecture")
    if arch not in _FAMILIES:
        raise ModelLoadError(f"{origin}: unsupported GGUF architecture {arch!r}; supported: {', '.join(_FAMILIES)}")

    def meta(key: str, default: Any = None) -> Any:
        value = _field(reader, f"{arch}.{key}", default)
        if value is None:
            raise ModelLoadError(f"{origin}: GGUF metadata {arch}.{key} is missing")
        return value

    tensors = {t.name: t for t in reader.tensors}
    if "token_embd.weight" not in tensors:
        raise ModelLoadError(f"{origin}: GGUF has no token_embd.weight tensor")
    d_model, n_heads = int(meta("embedding_length")), int(meta("attention.head_count"))
    head_dim = int(meta("attention.key_length", meta("rope.dimension_count", d_model // n_heads)))
    theta = float(meta("rope.freq_base", 10_000.0))
    family = _FAMILIES[arch]
    bos, eos = _field(reader, "tokenizer.ggml.bos_token_id"), _field(reader, "tokenizer.ggml.eos_token_id")
    return build_config(
        origin, family=family, vocab_size=int(meta("vocab_size", int(tensors["token_embd.weight"].shape[1]))),
        d_model=d_model, n_layers=int(meta("block_count")), n_heads=n_heads,
        n_kv_heads=int(meta("attention.head_count_kv", n_heads)), head_dim=head_dim,
        ffn_dim=int(meta("feed_forward_length")), rope_theta=theta,
        rope_scaling=_rope_scaling(reader, arch, tensors, head_dim, theta, origin),
        # GGUF keeps f32 metadata: 1e-5 arrives as 9.9999997e-06; round to the value that was meant.
        norm_eps=float(f"{meta('attention.layer_norm_rms_epsilon'):.6g}"),
        tie_embeddings="output.weight" not in tensors, qkv_bias=family == "qwen2", qk_norm=family == "qwen3",
        max_seq_len=int(meta("context_length", 4096)),
        bos_id=None if bos is None else int(bos), eos_id=None if eos is None else int(eos))


def _rope_scaling(reader: GGUFReader, arch: str, tensors: dict, head_dim: int, theta: float,
                  origin: str) -> RopeScaling:
    kind = _field(reader, f"{arch}.rope.scaling.type", "none")
    factor = float(_field(reader, f"{arch}.rope.scaling.factor", _field(reader, f"{arch}.rope.scale_linear", 1.0)))
    if "rope_freqs.weight" in tensors:
        return _llama3_from_factors(tensors["rope_freqs.weight"], head_dim, theta, origin)
    if kind == "none" or factor == 1.0:
        return RopeScaling()
    if kind == "linear":
        return RopeScaling("linear", factor)
    raise ModelLoadError(f"{origin}: RoPE scaling {kind!r} is not supported (none, linear, Llama 3 rope_freqs)")


def _llama3_from_factors(tensor, head_dim: int, theta: float, origin: str) -> RopeScaling:
    """llama.cpp stores Llama 3 RoPE scaling as per-frequency divisors; recover the parameters.

    With low/high frequency factors 1 and 4 (every Llama 3.x release), a divisor between 1 and
    `factor` names the original context; without one, any context between the two regimes fits.
    """
    factors_F = dequantize(tensor.data, tensor.tensor_type).reshape(-1).astype(np.float64)
    factor = float(factors_F.max())
    wavelen_F = 2 * np.pi / np.asarray(rope_inv_freq(head_dim, theta, RopeScaling()), np.float64)
    smooth_F = (1 / factors_F - 1 / factor) / (1 - 1 / factor) if factor > 1 else np.ones_like(factors_F)
    blended = (factors_F > 1 + 1e-6) & (factors_F < factor - 1e-6)
    candidates = [8192.0, *(wavelen_F[blended] * (1 + 3 * smooth_F[blended]))]
    kept, scaled = wavelen_F[factors_F <= 1 + 1e-6], wavelen_F[factors_F >= factor - 1e-6]
    if len(kept) and len(scaled):
        candidates.append(np.sqrt(4 * kept.max() * scaled.min()))
    target_F = 1 / wavelen_F / factors_F * 2 * np.pi
    for original in candidates:
        scaling = RopeScaling("llama3", factor, 1.0, 4.0, int(round(original)))
        if np.allclose(np.asarray(rope_inv_freq(head_dim, theta, scaling)), target_F, rtol=1e-4, atol=0):
            return scaling
    raise ModelLoadError(f"{origin}: rope_freqs.weight {np.round(factors_F, 4).tolist()} is not a Llama 3 RoPE "
                         "scaling with low/high frequency factors 1 and 4")
