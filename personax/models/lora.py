"""LoRA: attach adapters to linear layers chosen by path pattern; merge them for export.

The base weights stay `nnx.Param`, adapters are `LoRAParam`, so a trainer differentiates with
respect to `LoRAParam` only. The KL reference policy is the same model with adapters off:
`adapters_off(lora_state)` zeroes B, which makes every adapter contribute exactly nothing.
"""
from __future__ import annotations

import dataclasses
import re

import jax
import jax.numpy as jnp
from flax import nnx

from personax.models.layers import LoRA, LoRAParam, Linear
from personax.treepath import map_with_names, path_str

DEFAULT_TARGETS = r"attn/(q|k|v|o)$|mlp/(gate|up|down)$"


@dataclasses.dataclass(frozen=True)
class LoRAConfig:
    rank: int = 8
    alpha: float = 16.0
    dropout: float = 0.0
    targets: str = DEFAULT_TARGETS  # regex over module paths such as "layers/3/attn/q"


def _linears(model: nnx.Module):
    for path, module in nnx.iter_modules(model):
        if isinstance(module, Linear):
            yield "/".join(str(p) for p in path), module


def apply_lora(model: nnx.Module, cfg: LoRAConfig, rngs: nnx.Rngs) -> list[str]:
    """Adds fresh adapters in place; returns the adapted paths. Raises if nothing matches."""
    if cfg.rank <= 0:
        raise ValueError(f"LoRA rank must be positive, got {cfg.rank}")
    pattern = re.compile(cfg.targets)
    adapted = []
    for path, linear in _linears(model):
        if pattern.search(path):
            d_in, d_out = linear.kernel[...].shape
            linear.lora = nnx.data(LoRA(d_in, d_out, cfg.rank, cfg.alpha, cfg.dropout,
                               linear.kernel[...].dtype, rngs))
            adapted.append(path)
    if not adapted:
        names = [p for p, _ in _linears(model)][:6]
        raise ValueError(f"LoRA targets {cfg.targets!r} match no linear layer (paths look like {names})")
    return adapted


def merge_lora(model: nnx.Module) -> int:
    """Folds every adapter into its base kernel and removes it; returns how many were merged."""
    merged = 0
    for _, linear in _linears(model):
        if linear.lora is not None:
            lora = linear.lora
            delta = (lora.a[...].astype(jnp.float32) @ lora.b[...].astype(jnp.float32)) * lora.scale
            linear.kernel[...] = (linear.kernel[...].astype(jnp.float32) + delta).astype(linear.kernel[...].dtype)
            linear.lora = None
            merged += 1
    return merged


def adapters_off(lora_state: nnx.State) -> nnx.State:
    """The same adapter state with every B zeroed: the base (reference) policy, no weight copy."""
    return map_with_names(lambda name, x: jnp.zeros_like(x) if name.endswith("lora/b") else x, lora_state)


def adapter_delta_norm(lora_state: nnx.State, scale: float) -> jax.Array:
    """‖scale · A B‖_F over every adapter at once: how far the adapted weights are from the base's
    (in GRPO, from the SFT reference: with β = 0 the run's one measure of drift)."""
    named = {path_str(p): x.astype(jnp.float32) for p, x in jax.tree_util.tree_leaves_with_path(lora_state)}
    # ‖A B‖_F² = tr(Bᵀ Aᵀ A B) = Σ (Aᵀ A) ⊙ (B Bᵀ): rank x rank products, no d_in x d_out ΔW built.
    sq = sum(jnp.sum((a.T @ a) * (named[name[:-1] + "b"] @ named[name[:-1] + "b"].T))
             for name, a in named.items() if name.endswith("lora/a"))
    return scale * jnp.sqrt(sq)


def has_lora(model: nnx.Module) -> bool:
    return any(linear.lora is not None for _, linear in _linears(model))


__all__ = ["LoRAConfig", "LoRAParam", "apply_lora", "merge_lora", "adapters_off", "adapter_delta_norm", "has_lora",
           "DEFAULT_TARGETS"]
