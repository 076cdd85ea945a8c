"""Building blocks of the decoder: linear (with optional LoRA), RMSNorm, RoPE, attention, MLP."""
from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from personax.models.config import ModelConfig, RopeScaling

_init = nnx.initializers.normal(stddev=0.02)


class LoRAParam(nnx.Variable):
    """Adapter weights: a variable type of their own, so training can select exactly them."""


class LoRA(nnx.Module):
    def __init__(self, d_in: int, d_out: int, rank: int, alpha: float, dropout: float,
                 param_dtype, rngs: nnx.Rngs):
        # A random, B zero: a fresh adapter leaves the base function unchanged.
        self.a = LoRAParam(nnx.initializers.he_uniform()(rngs.params(), (d_in, rank), param_dtype))
        self.b = LoRAParam(jnp.zeros((rank, d_out), param_dtype))
        self.scale = alpha / rank
        self.dropout = nnx.Dropout(dropout, rngs=rngs)

    def __call__(self, x_BxTxI: jax.Array) -> jax.Array:
        a_IxR, b_RxO = self.a[...].astype(x_BxTxI.dtype), self.b[...].astype(x_BxTxI.dtype)
        return lora_delta(self.dropout(x_BxTxI), a_IxR, b_RxO) * self.scale


@jax.custom_vjp
def lora_delta(x_BxTxI: jax.Array, a_IxR: jax.Array, b_RxO: jax.Array) -> jax.Array:
    """(x A) B, with its gradients written out as contractions over the tokens.

    The same numbers as autodiff's (up to summation order), but autodiff's transpose of `h @ B`
    asked XLA:CPU for the output gradient with its token axis last, and it copied every MLP
    gradient into that layout (13% of a SmolLM2 LoRA SFT step; docs/benchmarks.md, "Where a LoRA SFT
    step's time goes"); this form contracts both operands over the tokens where they lie."""
    return (x_BxTxI @ a_IxR) @ b_RxO


def _lora_delta_fwd(x_BxTxI, a_IxR, b_RxO):
    h_BxTxR = x_BxTxI @ a_IxR
    return h_BxTxR @ b_RxO, (x_BxTxI, a_IxR, b_RxO, h_BxTxR)


def _lora_delta_bwd(residuals, dy_BxTxO):
    x_BxTxI, a_IxR, b_RxO, h_BxTxR = residuals
    dh_BxTxR = dy_BxTxO @ b_RxO.T
    return (dh_BxTxR @ a_IxR.T, jnp.einsum("...i,...r->ir", x_BxTxI, dh_BxTxR),
            jnp.einsum("...r,...o->ro", h_BxTxR, dy_BxTxO))


lora_delta.defvjp(_lora_delta_fwd, _lora_delta_bwd)


class Linear(nnx.Module):
    def __init__(self, d_in: int, d_out: int, *, bias: bool, cfg: ModelConfig, rngs: nnx.Rngs):
        self.kernel = nnx.Param(_init(rngs.params(), (d_in, d_out), cfg.param_dtype))
        self.bias = nnx.Param(jnp.zeros((d_out,), cfg.param_dtype)) if bias else None
        self.lora: LoRA | None = nnx.data(None)
        self.dtype = cfg.dtype

    def __call__(self, x_BxTxI: jax.Array) -> jax.Array:
        x_BxTxI = x_BxTxI.astype(self.dtype)
        y_BxTxO = x_BxTxI @ self.kernel[...].astype(self.dtype)
        if self.bias is not None:
            y_BxTxO = y_BxTxO + self.bias[...].astype(self.dtype)
        if self.lora is not None:
            y_BxTxO = y_BxTxO + self.lora(x_BxTxI)
        return y_BxTxO


class RMSNorm(nnx.Module):
    def __init__(self, dim: int, cfg: ModelConfig):
        # Gemma stores w with the norm applied as (1 + w): its identity is w = 0.
        init = jnp.zeros if cfg.norm_plus_one else jnp.ones
        self.weight = nnx.Param(init((dim,), cfg.param_dtype))
        self.eps = cfg.norm_eps
        self.plus_one = cfg.norm_plus_one

    def __call__(self, x: jax.Array) -> jax.Array:
        x32 = x.astype(jnp.float32)
        y32 = x32 * jax.lax.rsqrt(jnp.mean(x32 * x32, axis=-1, keepdims=True) + self.eps)
        w32 = self.weight[...].astype(jnp.float32)
        return (y32 * (1.0 + w32 if self.plus_one else w32)).astype(x.dtype)


def rope_inv_freq(head_dim: int, theta: float, scaling: RopeScaling) -> jax.Array:
    inv_freq_F = 1.0 / (theta ** (jnp.arange(0, head_dim, 2, dtype=jnp.float32) / head_dim))
    if scaling.kind == "linear":
        return inv_freq_F / scaling.factor
    if scaling.kind == "llama3":
        # Llama 3: long wavelengths are slowed by `factor`, short ones kept, the band between blended.
        wavelen_F = 2 * jnp.pi / inv_freq_F
        low_wavelen = scaling.original_max_position / scaling.low_freq_factor
        high_wavelen = scaling.original_max_position / scaling.high_freq_factor
        scaled_F = jnp.where(wavelen_F > low_wavelen, inv_freq_F / scaling.factor, inv_freq_F)
        smooth_F = (scaling.original_max_position / wavelen_F - scaling.low_freq_factor) / (
            scaling.high_freq_factor - scaling.low_freq_factor)
        blended_F = (1 - smooth_F) * scaled_F / scaling.factor + smooth_F * scaled_F
        medium_F = (wavelen_F >= high_wavelen) & (wavelen_F <= low_wavelen)
        return jnp.where(medium_F, blended_F, scaled_F)
    return inv_freq_F


def apply_rope(x_BxTxHxD: jax.Array, positions_BxT: jax.Array, inv_freq_F: jax.Array) -> jax.Array:
    """Rotary embedding in the half-split layout (first half pairs with second half)."""
    angles_BxTxF = positions_BxT[..., None].astype(jnp.float32) * inv_freq_F
    cos_BxTx1xF = jnp.cos(angles_BxTxF)[:, :, None, :]
    sin_BxTx1xF = jnp.sin(angles_BxTxF)[:, :, None, :]
    x32 = x_BxTxHxD.astype(jnp.float32)
    x1, x2 = jnp.split(x32, 2, axis=-1)
    out = jnp.concatenate([x1 * cos_BxTx1xF - x2 * sin_BxTx1xF, x2 * cos_BxTx1xF + x1 * sin_BxTx1xF], -1)
    return out.astype(x_BxTxHxD.dtype)


def attend(q_BxTxHxD: jax.Array, k_BxSxKxD: jax.Array, v_BxSxKxD: jax.Array,
           mask_BxTxS: jax.Array, scale: float, softcap: float | None,
           prefix_k_RxPxKxD: jax.Array | None = None, prefix_v_RxPxKxD: jax.Array | None = None) -> jax.Array:
    """Grouped-query attention; returns B x T x (H*D).

    With a shared prefix, the keys are the R prefixes' P slots followed by each row's own S − P: rows
    r·G .. r·G + G − 1 (G = B / R) all see prefix r, which is stored and read once, not G times (G
    samples of one prompt; the mask still spans all S slots, prefix first)."""
    B, T, H, D = q_BxTxHxD.shape
    K = k_BxSxKxD.shape[2]
    q_BxTxKxGxD = q_BxTxHxD.reshape(B, T, K, H // K, D)
    logits_BxKxGxTxS = jnp.einsum("btkgd,bskd->bkgts", q_BxTxKxGxD, k_BxSxKxD, preferred_element_type=jnp.float32)
    if prefix_k_RxPxKxD is not None:
        R, P = prefix_k_RxPxKxD.shape[:2]
        q_RxNxTxKxGxD = q_BxTxKxGxD.reshape(R, B // R, T, K, H // K, D)
        prefix_BxKxGxTxP = jnp.einsum("rntkgd,rpkd->rnkgtp", q_RxNxTxKxGxD, prefix_k_RxPxKxD,
                                      preferred_element_type=jnp.float32).reshape(B, K, H // K, T, P)
        logits_BxKxGxTxS = jnp.concatenate([prefix_BxKxGxTxP, logits_BxKxGxTxS], axis=-1)
    logits_BxKxGxTxS = logits_BxKxGxTxS * scale
    if softcap:
        logits_BxKxGxTxS = jnp.tanh(logits_BxKxGxTxS / softcap) * softcap
    logits_BxKxGxTxS = jnp.where(mask_BxTxS[:, None, None], logits_BxKxGxTxS, jnp.finfo(jnp.float32).min)
    probs_BxKxGxTxS = jax.nn.softmax(logits_BxKxGxTxS, axis=-1).astype(v_BxSxKxD.dtype)
    if prefix_k_RxPxKxD is None:
        out_BxTxKxGxD = jnp.einsum("bkgts,bskd->btkgd", probs_BxKxGxTxS, v_BxSxKxD)
    else:
        probs_RxNxKxGxTxP = probs_BxKxGxTxS[..., :P].reshape(R, B // R, K, H // K, T, P)
        out_BxTxKxGxD = (jnp.einsum("bkgts,bskd->btkgd", probs_BxKxGxTxS[..., P:], v_BxSxKxD)
                         + jnp.einsum("rnkgtp,rpkd->rntkgd", probs_RxNxKxGxTxP, prefix_v_RxPxKxD
                                      ).reshape(B, T, K, H // K, D))
    return out_BxTxKxGxD.reshape(B, T, H * D)


class MLP(nnx.Module):
    def __init__(self, cfg: ModelConfig, rngs: nnx.Rngs):
        self.gate = Linear(cfg.d_model, cfg.ffn_dim, bias=False, cfg=cfg, rngs=rngs)
        self.up = Linear(cfg.d_model, cfg.ffn_dim, bias=False, cfg=cfg, rngs=rngs)
        self.down = Linear(cfg.ffn_dim, cfg.d_model, bias=False, cfg=cfg, rngs=rngs)
        self.activation = cfg.activation

    def __call__(self, x_BxTxD: jax.Array) -> jax.Array:
        gate_BxTxF = self.gate(x_BxTxD)
        if self.activation == "silu":
            act_BxTxF = jax.nn.silu(gate_BxTxF)
        else:
            act_BxTxF = jax.nn.gelu(gate_BxTxF, approximate=True)
        return self.down(act_BxTxF * self.up(x_BxTxD))
