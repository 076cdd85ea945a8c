"""How per-token losses become one scalar. Each mode returns (numerator, count); the loss is
numerator / count. Gradient accumulation passes the count of the whole mini-batch instead
(`aggregation_count`), so summed micro-batch losses equal the mini-batch loss exactly.

Rows without completion tokens (filtered rollouts) count as no sequence at all.
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from personax.registry import Registry

# (values_NxT, mask_NxT as float, norm_length) -> (numerator, count)
Aggregation = Callable[[jax.Array, jax.Array, int], tuple[jax.Array, jax.Array]]
AGGREGATIONS: Registry[Aggregation] = Registry("loss aggregation")


def _n_sequences(mask_NxT: jax.Array) -> jax.Array:
    return (mask_NxT.sum(-1) > 0).sum().astype(jnp.float32)


@AGGREGATIONS.register("token_mean")
def token_mean(values_NxT, mask_NxT, norm_length):
    """Every completion token of the batch weighs the same (DAPO)."""
    del norm_length
    return (values_NxT * mask_NxT).sum(), mask_NxT.sum()


@AGGREGATIONS.register("seq_mean_token_mean")
def seq_mean_token_mean(values_NxT, mask_NxT, norm_length):
    """SPEC §2.3: mean over sequences of each sequence's own token mean."""
    del norm_length
    n_tokens_N = mask_NxT.sum(-1)
    per_seq_N = (values_NxT * mask_NxT).sum(-1) / jnp.maximum(n_tokens_N, 1.0)
    return per_seq_N.sum(), _n_sequences(mask_NxT)


@AGGREGATIONS.register("seq_mean_token_sum_norm")
def seq_mean_token_sum_norm(values_NxT, mask_NxT, norm_length):
    """Dr. GRPO: each sequence's token sum over one fixed length, so no length bias."""
    return (values_NxT * mask_NxT).sum() / norm_length, _n_sequences(mask_NxT)


def aggregation_count(name: str, mask_NxT: jax.Array) -> jax.Array:
    """The denominator `name` uses for this mask (pass the mini-batch's to each micro-batch)."""
    mask_NxT = mask_NxT.astype(jnp.float32)
    return AGGREGATIONS.get(name)(jnp.zeros_like(mask_NxT), mask_NxT, 1)[1]


def aggregate(name: str, values_NxT: jax.Array, mask_NxT: jax.Array, norm_length: int,
              count: jax.Array | None = None) -> jax.Array:
    numerator, own_count = AGGREGATIONS.get(name)(values_NxT, mask_NxT.astype(jnp.float32), norm_length)
    return numerator / jnp.maximum(own_count if count is None else count, 1.0)
