"""Decoder-only LM (Llama / Qwen2 / Qwen3 / Gemma 2-3) and its scalar-head variant, in Flax NNX.

Every forward takes explicit `positions_BxT` and a boolean `mask_BxTxS` (which key slots each
query may see), so padding, packing and KV-cache decoding are all just different masks.
With a cache, the T new keys/values are written at slots [cache_index, cache_index + T).
A group-shared cache (`share_prefix`) keeps G rows' common prompt once: its P slots come first, each
row's own slots after them, and the masks and `cache_index` count slots the same way.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx

from personax.models.config import ModelConfig, RopeScaling
from personax.models.layers import MLP, Linear, RMSNorm, apply_rope, attend, rope_inv_freq

Cache = list  # per layer: {"k": B x S x K x D, "v": B x S x K x D} (+ "prefix_k"/"prefix_v": R x P x K x D)


class Attention(nnx.Module):
    def __init__(self, cfg: ModelConfig, layer: int, rngs: nnx.Rngs):
        H, K, D = cfg.n_heads, cfg.n_kv_heads, cfg.head_dim
        self.q = Linear(cfg.d_model, H * D, bias=cfg.qkv_bias, cfg=cfg, rngs=rngs)
        self.k = Linear(cfg.d_model, K * D, bias=cfg.qkv_bias, cfg=cfg, rngs=rngs)
        self.v = Linear(cfg.d_model, K * D, bias=cfg.qkv_bias, cfg=cfg, rngs=rngs)
        self.o = Linear(H * D, cfg.d_model, bias=False, cfg=cfg, rngs=rngs)
        self.q_norm = RMSNorm(D, cfg) if cfg.qk_norm else None
        self.k_norm = RMSNorm(D, cfg) if cfg.qk_norm else None
        self.sliding = cfg.is_sliding(layer)
        local_rope = self.sliding and cfg.rope_local_theta is not None
        self.rope_theta = cfg.rope_local_theta if local_rope else cfg.rope_theta
        self.rope_scaling = RopeScaling() if local_rope else cfg.rope_scaling
        self.shape = (H, K, D)
        self.scale = cfg.attn_scale
        self.softcap = cfg.attn_logit_softcap

    def __call__(self, x_BxTxD, positions_BxT, mask_BxTxS, kv=None, cache_index=None):
        B, T, _ = x_BxTxD.shape
        H, K, D = self.shape
        q_BxTxHxD = self.q(x_BxTxD).reshape(B, T, H, D)
        k_BxTxKxD = self.k(x_BxTxD).reshape(B, T, K, D)
        v_BxTxKxD = self.v(x_BxTxD).reshape(B, T, K, D)
        if self.q_norm is not None:
            q_BxTxHxD, k_BxTxKxD = self.q_norm(q_BxTxHxD), self.k_norm(k_BxTxKxD)
        inv_freq_F = rope_inv_freq(D, self.rope_theta, self.rope_scaling)
        q_BxTxHxD = apply_rope(q_BxTxHxD, positions_BxT, inv_freq_F)
        k_BxTxKxD = apply_rope(k_BxTxKxD, positions_BxT, inv_freq_F)
        prefix = ()
        if kv is not None:
            if "prefix_k" in kv:  # a group-shared cache: the prompt's slots come first, the own ones after
                prefix = (kv["prefix_k"].astype(q_BxTxHxD.dtype), kv["prefix_v"].astype(q_BxTxHxD.dtype))
            at = (0, cache_index - (prefix[0].shape[1] if prefix else 0), 0, 0)
            kv = {**kv, "k": jax.lax.dynamic_update_slice(kv["k"], k_BxTxKxD.astype(kv["k"].dtype), at),
                  "v": jax.lax.dynamic_update_slice(kv["v"], v_BxTxKxD.astype(kv["v"].dtype), at)}
            k_BxSxKxD, v_BxSxKxD = kv["k"].astype(q_BxTxHxD.dtype), kv["v"].astype(q_BxTxHxD.dtype)
        else:
            k_BxSxKxD, v_BxSxKxD = k_BxTxKxD, v_BxTxKxD
        out_BxTxHD = attend(q_BxTxHxD, k_BxSxKxD, v_BxSxKxD, mask_BxTxS, self.scale, self.softcap, *prefix)
        return self.o(out_BxTxHD), kv


class Block(nnx.Module):
    def __init__(self, cfg: ModelConfig, layer: int, rngs: nnx.Rngs):
        self.pre_attn_norm = RMSNorm(cfg.d_model, cfg)
        self.attn = Attention(cfg, layer, rngs)
        self.post_attn_norm = RMSNorm(cfg.d_model, cfg) if cfg.post_norms else None
        self.pre_mlp_norm = RMSNorm(cfg.d_model, cfg)
        self.mlp = MLP(cfg, rngs)
        self.post_mlp_norm = RMSNorm(cfg.d_model, cfg) if cfg.post_norms else None

    def __call__(self, x_BxTxD, positions_BxT, mask_BxTxS, kv=None, cache_index=None):
        h_BxTxD, kv = self.attn(self.pre_attn_norm(x_BxTxD), positions_BxT, mask_BxTxS, kv, cache_index)
        if self.post_attn_norm is not None:
            h_BxTxD = self.post_attn_norm(h_BxTxD)
        x_BxTxD = x_BxTxD + h_BxTxD
        h_BxTxD = self.mlp(self.pre_mlp_norm(x_BxTxD))
        if self.post_mlp_norm is not None:
            h_BxTxD = self.post_mlp_norm(h_BxTxD)
        return x_BxTxD + h_BxTxD, kv


class DecoderLM(nnx.Module):
    def __init__(self, cfg: ModelConfig, rngs: nnx.Rngs):
        self.cfg = cfg
        self.embed = nnx.Param(nnx.initializers.normal(0.02)(rngs.params(), (cfg.vocab_size, cfg.d_model),
                                                               cfg.param_dtype))
        self.layers = nnx.List([Block(cfg, i, rngs) for i in range(cfg.n_layers)])
        self.final_norm = RMSNorm(cfg.d_model, cfg)
        self.lm_head = None if cfg.tie_embeddings else Linear(cfg.d_model, cfg.vocab_size, bias=False,
                                                              cfg=cfg, rngs=rngs)

    def hidden(self, tokens_BxT, positions_BxT, mask_BxTxS, cache: Cache | None = None, cache_index=0):
        cfg = self.cfg
        x_BxTxD = self.embed[...][tokens_BxT].astype(cfg.dtype)
        if cfg.embed_scale:
            # The scale is rounded to the parameter dtype, as the reference implementations do.
            x_BxTxD = x_BxTxD * jnp.asarray(math.sqrt(cfg.d_model), cfg.param_dtype).astype(cfg.dtype)
        local_mask_BxTxS = _window(mask_BxTxS, cfg.sliding_window, cache_index) if cfg.sliding_window else None
        new_cache = []
        for i, block in enumerate(self.layers):
            mask = local_mask_BxTxS if block.attn.sliding else mask_BxTxS
            x_BxTxD, kv = block(x_BxTxD, positions_BxT, mask, None if cache is None else cache[i], cache_index)
            new_cache.append(kv)
        return self.final_norm(x_BxTxD), (None if cache is None else new_cache)

    def logits(self, h_BxTxD: jax.Array) -> jax.Array:
        if self.lm_head is None:
            logits_BxTxV = h_BxTxD @ self.embed[...].astype(h_BxTxD.dtype).T
        else:
            logits_BxTxV = self.lm_head(h_BxTxD)
        cap = self.cfg.final_logit_softcap
        return jnp.tanh(logits_BxTxV / cap) * cap if cap else logits_BxTxV

    def __call__(self, tokens_BxT, positions_BxT, mask_BxTxS, cache: Cache | None = None, cache_index=0):
        h_BxTxD, cache = self.hidden(tokens_BxT, positions_BxT, mask_BxTxS, cache, cache_index)
        return self.logits(h_BxTxD), cache


class ScalarHeadLM(nnx.Module):
    """A decoder trunk with a scalar head: per-token values; `score` reads the last real token."""

    def __init__(self, cfg: ModelConfig, rngs: nnx.Rngs):
        self.trunk = DecoderLM(cfg, rngs)
        self.head = Linear(cfg.d_model, 1, bias=True, cfg=cfg, rngs=rngs)

    def __call__(self, tokens_BxT, positions_BxT, mask_BxTxS) -> jax.Array:
        h_BxTxD, _ = self.trunk.hidden(tokens_BxT, positions_BxT, mask_BxTxS)
        return self.head(h_BxTxD)[..., 0].astype(jnp.float32)

    def score(self, tokens_BxT, valid_BxT) -> jax.Array:
        values_BxT = self(tokens_BxT, positions_from_valid(valid_BxT), causal_mask(valid_BxT))
        last_B = jnp.max(jnp.where(valid_BxT, jnp.arange(tokens_BxT.shape[1]), 0), axis=1)
        return jnp.take_along_axis(values_BxT, last_B[:, None], axis=1)[:, 0]


def _window(mask_BxTxS, window: int, cache_index) -> jax.Array:
    T, S = mask_BxTxS.shape[1:]
    q_slot_T = jnp.arange(T) + cache_index
    return mask_BxTxS & ((q_slot_T[:, None] - jnp.arange(S)[None, :]) < window)[None]


def positions_from_valid(valid_BxT: jax.Array) -> jax.Array:
    """Left padding: positions count real tokens only."""
    return jnp.maximum(jnp.cumsum(valid_BxT.astype(jnp.int32), axis=1) - 1, 0)


def causal_mask(valid_BxT: jax.Array, segment_ids_BxT: jax.Array | None = None) -> jax.Array:
    """Query t sees real key s <= t (of the same packed segment when segments are given)."""
    T = valid_BxT.shape[1]
    mask_BxTxT = jnp.tril(jnp.ones((T, T), bool))[None] & valid_BxT[:, None, :]
    if segment_ids_BxT is not None:
        mask_BxTxT &= segment_ids_BxT[:, :, None] == segment_ids_BxT[:, None, :]
    return mask_BxTxT


def init_cache(cfg: ModelConfig, batch: int, length: int, dtype=None) -> Cache:
    shape = (batch, length, cfg.n_kv_heads, cfg.head_dim)
    dtype = dtype or cfg.dtype
    return [{"k": jnp.zeros(shape, dtype), "v": jnp.zeros(shape, dtype)} for _ in range(cfg.n_layers)]


def share_prefix(prefix_cache: Cache, group_size: int, own_len: int) -> Cache:
    """A cache for R·G rows from R prompts' filled caches (R x P slots each): G rows a prompt read its P
    slots from one copy (`attend`'s shared prefix) and write `own_len` slots of their own after them."""
    def layer(kv):
        R, _, K, D = kv["k"].shape
        own = jnp.zeros((R * group_size, own_len, K, D), kv["k"].dtype)
        return {"k": own, "v": own, "prefix_k": kv["k"], "prefix_v": kv["v"]}
    return [layer(kv) for kv in prefix_cache]
