"""The total reward R = Σ λ_k r_k over the configured components, each also logged on its own."""
from __future__ import annotations

import asyncio
import math
from typing import Awaitable, Callable, Mapping

import numpy as np

from personax.rewards.base import REASONING_ONLY, REWARDS, RewardContext, summary
from personax.rewards.batch import RolloutBatch

DEFAULT_WEIGHTS = {"profile": 0.3, "task_pairwise": 0.7}  # SPEC §2.3

Combined = Callable[[RolloutBatch, RewardContext],
                    Awaitable[tuple[np.ndarray, dict[str, np.ndarray], dict[str, float]]]]


def combine(weights: Mapping[str, float] = DEFAULT_WEIGHTS) -> Combined:
    """`async total(batch, ctx) -> (R_N, {name: r_N}, metrics)`. A weight of 0 computes and logs a
    component without adding it to R, and its NaNs do not make R NaN; a weighted NaN does (the
    rollout is then dropped by GRPO's filtering)."""
    weights = {name: float(w) for name, w in weights.items()}
    for name, w in weights.items():
        REWARDS.get(name)  # an unknown name fails here, at build time, with the registered list
        if not math.isfinite(w):
            raise ValueError(f"reward weight {name!r} must be finite, got {w}")
    if not any(weights.values()):
        raise ValueError(f"reward weights {weights} are all zero: the total reward would be constant")

    async def total(batch: RolloutBatch, ctx: RewardContext):
        results = await asyncio.gather(*(REWARDS.get(name)(batch, ctx) for name in weights))
        components = {name: scores_N for name, (scores_N, _) in zip(weights, results)}
        total_N = weighted_total(components, weights)
        metrics = {f"reward/{name}/{k}": v for name, (_, m) in zip(weights, results) for k, v in m.items()}
        metrics |= {f"reward/{name}/weight": w for name, w in weights.items()}
        metrics |= summary(total_N, "reward/total/")
        if ctx.judges is not None:  # running totals: calls, unparseable replies, failed calls per judge
            metrics |= {f"judge/{k}": float(v) for k, v in ctx.judges.stats.items()}
        return total_N.astype(np.float32), components, metrics

    return total


def weighted_total(components: Mapping[str, np.ndarray], weights: Mapping[str, float],
                   leave_out: frozenset[str] = frozenset()) -> np.ndarray:
    """Σ λ_k r_k over the nonzero weights not in `leave_out` (NaN where a summed term is NaN)."""
    total_N = np.zeros(len(next(iter(components.values()))), np.float32)
    for name, w in weights.items():
        if w and name not in leave_out:
            total_N = total_N + np.float32(w) * components[name]
    return total_N


def after_reasoning(components: Mapping[str, np.ndarray], weights: Mapping[str, float]) -> np.ndarray:
    """R without the REASONING_ONLY terms: the part of R that the tokens after a rollout's
    `</REASONING>` can change."""
    return weighted_total(components, weights, REASONING_ONLY)
