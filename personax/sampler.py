"""Batched KV-cache sampling: one jitted prefill, then a `lax.while_loop` decode.

Prompts are left-padded, so every row's last prompt token sits in the same slot and the cache
write index is a scalar. G samples per prompt share the prefill: the prompt cache is computed
once for B rows, and its G rows read it from that one copy (`share_prefix`), so a decode step reads
the prompt's keys once a group, not G times. Returned log-probs are those of the sampled tokens
under the temperature-scaled model distribution (before top-p/top-k truncation), which is what a
trainer recomputes from the same logits.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from personax.models.transformer import init_cache, positions_from_valid, share_prefix


@dataclasses.dataclass(frozen=True)
class SamplingParams:
    max_new_tokens: int = 128
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0  # 0 = off
    greedy: bool = False
    num_samples: int = 1  # G completions per prompt, sharing one prefill
    stop_ids: tuple[int, ...] = ()

    def __post_init__(self):
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if not self.greedy and self.temperature <= 0:
            raise ValueError(f"temperature must be > 0 when sampling (use greedy=True), got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {self.num_samples}")


class SampleOutput(NamedTuple):
    tokens_NxM: jax.Array  # N = B * G rows, prompt b's samples at rows b*G .. b*G+G-1; pad after stop
    logprobs_NxM: jax.Array  # 0 after stop
    lengths_N: jax.Array  # generated tokens, the stop token included
    stopped_N: jax.Array  # True where a stop token ended the row (False: ran out of budget)


def filter_logits(logits_NxV: jax.Array, top_p: float, top_k: int) -> jax.Array:
    """Masks tokens outside the top-k and outside the smallest top-p nucleus with -inf."""
    neg_inf = jnp.finfo(logits_NxV.dtype).min
    if top_k:
        kth_N1 = jax.lax.top_k(logits_NxV, top_k)[0][:, -1:]
        logits_NxV = jnp.where(logits_NxV < kth_N1, neg_inf, logits_NxV)
    if top_p < 1.0:
        logits_NxV = jnp.where(logits_NxV < nucleus_cutoff(logits_NxV, top_p), neg_inf, logits_NxV)
    return logits_NxV


def nucleus_cutoff(logits_NxV: jax.Array, top_p: float, iters: int = 32) -> jax.Array:
    """[N, 1]: the smallest logit c with mass(logits > c) < top_p: a token is in the nucleus when the
    mass strictly above it is below top_p (the top token always is). Found by bisection on the value
    instead of a vocabulary sort: each of the `iters` halvings is one masked sum over the row (a sort of
    49k logits a row was ~45% of a decode step on CPU). The bracket starts at [max − 100, max] (below
    max − 100 lies < V·e⁻¹⁰⁰ of the mass, so the cutoff is inside it) and 32 halvings narrow it to
    2.3e-8, under float32 resolution at the logits' scale: the same tokens as a sort, up to ties
    closer than that."""
    probs_NxV = jax.nn.softmax(logits_NxV.astype(jnp.float32), axis=-1)
    hi_N1 = jnp.max(logits_NxV, axis=-1, keepdims=True).astype(jnp.float32)  # mass above it: 0 < top_p

    def halve(_, bracket):
        lo_N1, hi_N1 = bracket
        mid_N1 = (lo_N1 + hi_N1) / 2
        inside_N1 = jnp.sum(jnp.where(logits_NxV > mid_N1, probs_NxV, 0.0), axis=-1, keepdims=True) < top_p
        return jnp.where(inside_N1, lo_N1, mid_N1), jnp.where(inside_N1, mid_N1, hi_N1)

    lo_N1, _ = jax.lax.fori_loop(0, iters, halve, (hi_N1 - 100.0, hi_N1))
    return jnp.min(jnp.where(logits_NxV > lo_N1, logits_NxV, jnp.inf), axis=-1, keepdims=True)


def _pick(logits_NxV, key, p: SamplingParams):
    logits_NxV = logits_NxV.astype(jnp.float32)
    if p.greedy:
        token_N = jnp.argmax(logits_NxV, axis=-1)
        scaled_NxV = logits_NxV
    else:
        scaled_NxV = logits_NxV / p.temperature
        token_N = jax.random.categorical(key, filter_logits(scaled_NxV, p.top_p, p.top_k), axis=-1)
    logprob_N = jnp.take_along_axis(jax.nn.log_softmax(scaled_NxV, -1), token_N[:, None], -1)[:, 0]
    return token_N.astype(jnp.int32), logprob_N


def check_fits(prompt_len: int, max_new_tokens: int, max_seq_len: int) -> None:
    if prompt_len + max_new_tokens > max_seq_len:
        raise ValueError(
            f"prompt of {prompt_len} tokens + max_new_tokens={max_new_tokens} = {prompt_len + max_new_tokens} "
            f"exceeds the model's max_seq_len={max_seq_len} (the KV cache size); shorten the prompt or "
            f"lower max_new_tokens")


@functools.partial(jax.jit, static_argnames=("graphdef", "params"))
def generate(graphdef, state, prompt_BxP, valid_BxP, key, params: SamplingParams) -> SampleOutput:
    """Samples `params.num_samples` completions for each left-padded prompt; deterministic in `key`."""
    model = nnx.merge(graphdef, state)
    cfg = model.cfg
    B, P = prompt_BxP.shape
    M, G = params.max_new_tokens, params.num_samples
    check_fits(P, M, cfg.max_seq_len)
    S = P + M
    kv_valid_BxS = jnp.concatenate([valid_BxP, jnp.ones((B, M), bool)], axis=1)
    causal_PxP = jnp.tril(jnp.ones((P, P), bool))
    logits_BxPxV, cache = model(prompt_BxP, positions_from_valid(valid_BxP),
                                causal_PxP[None] & valid_BxP[:, None, :], init_cache(cfg, B, P), 0)
    cache = share_prefix(cache, G, M)  # the G samples of a prompt read its P slots from one copy
    rep = lambda x: jnp.repeat(x, G, axis=0)
    kv_valid_NxS = rep(kv_valid_BxS)
    next_pos_N = rep(jnp.sum(valid_BxP, axis=1).astype(jnp.int32))
    stop_S = jnp.asarray(params.stop_ids or (-1,), jnp.int32)
    N = B * G

    def cond(carry):
        step, _, _, done_N, *_ = carry
        return (step < M) & ~jnp.all(done_N)

    def body(carry):
        step, tokens_NxM, logprobs_NxM, done_N, cache, logits_NxV, pos_N = carry
        token_N, logprob_N = _pick(logits_NxV, jax.random.fold_in(key, step), params)
        token_N = jnp.where(done_N, 0, token_N)
        logprob_N = jnp.where(done_N, 0.0, logprob_N)
        tokens_NxM = tokens_NxM.at[:, step].set(token_N)
        logprobs_NxM = logprobs_NxM.at[:, step].set(logprob_N)
        done_N = done_N | jnp.isin(token_N, stop_S)
        mask_Nx1xS = (kv_valid_NxS & (jnp.arange(S) <= P + step))[:, None, :]
        out_Nx1xV, cache = model(token_N[:, None], pos_N[:, None], mask_Nx1xS, cache, P + step)
        return step + 1, tokens_NxM, logprobs_NxM, done_N, cache, out_Nx1xV[:, 0], pos_N + 1

    init = (jnp.int32(0), jnp.zeros((N, M), jnp.int32), jnp.zeros((N, M), jnp.float32),
            jnp.zeros((N,), bool), cache, rep(logits_BxPxV[:, -1]), next_pos_N)
    _, tokens_NxM, logprobs_NxM, _, _, _, _ = jax.lax.while_loop(cond, body, init)
    is_stop_NxM = jnp.isin(tokens_NxM, stop_S)
    first_stop_N = jnp.argmax(is_stop_NxM, axis=1)
    stopped_N = jnp.any(is_stop_NxM, axis=1)
    lengths_N = jnp.where(stopped_N, first_stop_N + 1, M)
    return SampleOutput(tokens_NxM, logprobs_NxM, lengths_N, stopped_N)


def left_pad(token_lists: list[list[int]], pad_id: int = 0, length: int | None = None):
    """Token lists -> (tokens_BxP, valid_BxP) numpy arrays, left-padded to the longest (or `length`)."""
    if not token_lists or any(len(t) == 0 for t in token_lists):
        raise ValueError("every prompt must have at least one token")
    P = length or max(len(t) for t in token_lists)
    tokens = np.full((len(token_lists), P), pad_id, np.int32)
    valid = np.zeros((len(token_lists), P), bool)
    for i, t in enumerate(token_lists):
        if len(t) > P:
            raise ValueError(f"prompt {i} has {len(t)} tokens, longer than the padded length {P}")
        tokens[i, P - len(t):] = t
        valid[i, P - len(t):] = True
    return tokens, valid
