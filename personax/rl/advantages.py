"""Group-relative advantages: one scalar per completion, from the rewards of its prompt's group.

Rows are prompt-major (prompt b's G samples at rows b*G .. b*G+G-1, the sampler's layout). An
optional `valid_N` mask leaves failed rollouts out of their group's statistics; they get advantage 0.
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from personax.registry import Registry

# (rewards_BxG with invalid entries zeroed, valid_BxG as float, eps) -> advantages_BxG
AdvantageFn = Callable[[jax.Array, jax.Array, float], jax.Array]
ADVANTAGES: Registry[AdvantageFn] = Registry("advantage estimator")


def _group_mean_std(rewards_BxG: jax.Array, valid_BxG: jax.Array):
    n_Bx1 = jnp.maximum(valid_BxG.sum(-1, keepdims=True), 1.0)
    mean_Bx1 = (rewards_BxG * valid_BxG).sum(-1, keepdims=True) / n_Bx1
    var_Bx1 = (jnp.square(rewards_BxG - mean_Bx1) * valid_BxG).sum(-1, keepdims=True) / n_Bx1
    return mean_Bx1, jnp.sqrt(var_Bx1), n_Bx1


@ADVANTAGES.register("group_norm")
def group_norm(rewards_BxG, valid_BxG, eps):
    """SPEC §2.3: (R − mean) / (std + eps), population std."""
    mean_Bx1, std_Bx1, _ = _group_mean_std(rewards_BxG, valid_BxG)
    return (rewards_BxG - mean_Bx1) / (std_Bx1 + eps)


@ADVANTAGES.register("group_center")
def group_center(rewards_BxG, valid_BxG, eps):
    """Dr. GRPO: R − mean, no std division (no up-weighting of near-unanimous groups)."""
    del eps
    mean_Bx1, _, _ = _group_mean_std(rewards_BxG, valid_BxG)
    return rewards_BxG - mean_Bx1


@ADVANTAGES.register("rloo")
def rloo(rewards_BxG, valid_BxG, eps):
    """Leave-one-out baseline R_i − mean(R_j, j ≠ i) = n/(n−1)·(R_i − mean)."""
    del eps
    mean_Bx1, _, n_Bx1 = _group_mean_std(rewards_BxG, valid_BxG)
    return (rewards_BxG - mean_Bx1) * n_Bx1 / jnp.maximum(n_Bx1 - 1.0, 1.0)


def _masked_stats(prefix: str, x_N: jax.Array, valid_N: jax.Array) -> dict[str, jax.Array]:
    w_N = valid_N.astype(jnp.float32)
    n = jnp.maximum(w_N.sum(), 1.0)
    mean = (x_N * w_N).sum() / n
    any_valid = w_N.sum() > 0
    return {
        f"{prefix}_mean": mean,
        f"{prefix}_std": jnp.sqrt((jnp.square(x_N - mean) * w_N).sum() / n),
        f"{prefix}_min": jnp.where(any_valid, jnp.where(valid_N, x_N, jnp.inf).min(), 0.0),
        f"{prefix}_max": jnp.where(any_valid, jnp.where(valid_N, x_N, -jnp.inf).max(), 0.0),
    }


def compute_advantages(rewards_N: jax.Array, group_size: int, estimator: str = "group_norm",
                       valid_N: jax.Array | None = None, eps: float = 1e-8):
    """-> (advantages_N, metrics). A group whose valid rewards are all equal gets exactly 0."""
    if rewards_N.ndim != 1:
        raise ValueError(f"rewards must be one value per completion (shape [N]), got shape {rewards_N.shape}")
    if group_size < 1 or rewards_N.shape[0] % group_size:
        raise ValueError(f"{rewards_N.shape[0]} rewards do not split into groups of G={group_size}")
    if valid_N is None:
        valid_N = jnp.ones(rewards_N.shape, bool)
    elif valid_N.shape != rewards_N.shape:
        raise ValueError(f"valid mask shape {valid_N.shape} does not match rewards shape {rewards_N.shape}")
    valid_N = valid_N.astype(bool)
    fn = ADVANTAGES.get(estimator)

    valid_BxG = valid_N.reshape(-1, group_size)
    # Failed rollouts may carry NaN rewards: zero them before any arithmetic touches them.
    rewards_BxG = jnp.where(valid_BxG, rewards_N.reshape(-1, group_size).astype(jnp.float32), 0.0)
    adv_BxG = fn(rewards_BxG, valid_BxG.astype(jnp.float32), eps)
    # Rounding in mean/std must not turn a unanimous group into a tiny nonzero signal.
    hi_Bx1 = jnp.where(valid_BxG, rewards_BxG, -jnp.inf).max(-1, keepdims=True)
    lo_Bx1 = jnp.where(valid_BxG, rewards_BxG, jnp.inf).min(-1, keepdims=True)
    unanimous_Bx1 = hi_Bx1 <= lo_Bx1
    adv_BxG = jnp.where(valid_BxG & ~unanimous_Bx1, adv_BxG, 0.0)
    advantages_N = adv_BxG.reshape(-1)

    has_valid_B = valid_BxG.any(-1)
    n_groups = jnp.maximum(has_valid_B.sum(), 1)
    metrics = {
        **_masked_stats("advantage", advantages_N, valid_N),
        **_masked_stats("reward", rewards_BxG.reshape(-1), valid_N),
        "zero_variance_group_frac": (unanimous_Bx1[:, 0] & has_valid_B).sum() / n_groups,
        "valid_frac": valid_N.mean(),
    }
    return advantages_N, metrics
