"""Decoder LM configuration and the registry of named model configs."""
from __future__ import annotations

import dataclasses
from typing import Any, Callable


@dataclasses.dataclass(frozen=True)
class RopeScaling:
    kind: str = "none"  # "none" | "linear" | "llama3"
    factor: float = 1.0
    low_freq_factor: float = 1.0
    high_freq_factor: float = 4.0
    original_max_position: int = 8192


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    family: str  # "llama" | "qwen2" | "qwen3" | "gemma2" | "gemma3"
    vocab_size: int
    d_model: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    ffn_dim: int
    rope_theta: float = 10_000.0
    rope_scaling: RopeScaling = RopeScaling()
    # Sliding-window (local) layers may use their own RoPE base (Gemma 3).
    rope_local_theta: float | None = None
    norm_eps: float = 1e-6
    tie_embeddings: bool = True
    qkv_bias: bool = False
    qk_norm: bool = False
    activation: str = "silu"  # "silu" (SwiGLU) | "gelu_tanh" (GeGLU)
    # Gemma conventions: RMSNorm weight is applied as (1 + w); embeddings scaled by sqrt(d);
    # extra norms after attention and after the MLP ("sandwich" norms).
    norm_plus_one: bool = False
    embed_scale: bool = False
    post_norms: bool = False
    query_pre_attn_scalar: float | None = None
    attn_logit_softcap: float | None = None
    final_logit_softcap: float | None = None
    sliding_window: int | None = None
    # Every `sliding_window_pattern`-th layer is global; the others slide. 0 = all global.
    sliding_window_pattern: int = 0
    max_seq_len: int = 4096
    param_dtype: str = "float32"
    dtype: str = "float32"
    bos_id: int | None = None
    eos_id: int | None = None

    def __post_init__(self):
        if self.n_heads % self.n_kv_heads:
            raise ValueError(f"n_heads={self.n_heads} must be a multiple of n_kv_heads={self.n_kv_heads}")
        if self.activation not in ("silu", "gelu_tanh"):
            raise ValueError(f"activation must be 'silu' or 'gelu_tanh', got {self.activation!r}")
        if self.rope_scaling.kind not in ("none", "linear", "llama3"):
            raise ValueError(f"rope_scaling.kind must be none|linear|llama3, got {self.rope_scaling.kind!r}")

    def is_sliding(self, layer: int) -> bool:
        return bool(self.sliding_window and self.sliding_window_pattern and (layer + 1) % self.sliding_window_pattern)

    @property
    def attn_scale(self) -> float:
        return (self.query_pre_attn_scalar or self.head_dim) ** -0.5

    def replace(self, **kw: Any) -> "ModelConfig":
        return dataclasses.replace(self, **kw)


_REGISTRY: dict[str, Callable[[], ModelConfig]] = {}


def register(name: str):
    def deco(fn: Callable[[], ModelConfig]):
        _REGISTRY[name] = fn
        return fn
    return deco


def get_config(name: str) -> ModelConfig:
    if name not in _REGISTRY:
        raise KeyError(f"unknown model config {name!r}; registered: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]()


def registered_names() -> list[str]:
    return sorted(_REGISTRY)
