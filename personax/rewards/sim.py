"""The sim world's exact scores of the answer to the rewrite, in [0, 1] (sim world only):
`sim_personalization` (the persona's constraint traits the answer satisfies) and `sim_task` (the
share of the original request's content it covers). The answer to the original query is scored
too and logged beside it, so a step's gain over the unrewritten prompt is visible."""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from personax.rewards.base import REWARDS, RewardContext, as_scores, summary
from personax.rewards.batch import Rollout, RolloutBatch


def _scored(batch: RolloutBatch, score: Callable[[Rollout, str], float]) -> tuple[np.ndarray, dict[str, float]]:
    rewrite_N = as_scores([score(r, r.answers.rewrite) if r.answers.ok else math.nan for r in batch.rollouts])
    original_N = as_scores([score(r, r.answers.original) if r.answers.ok else math.nan for r in batch.rollouts])
    metrics = summary(rewrite_N) | summary(original_N, "original_")
    metrics["delta"] = metrics["mean"] - metrics["original_mean"]
    return rewrite_N, metrics


@REWARDS.register("sim_personalization")
async def sim_personalization_reward(batch: RolloutBatch, ctx: RewardContext) -> tuple[np.ndarray, dict[str, float]]:
    judge = ctx.sim_judges()
    return _scored(batch, lambda r, answer: judge.personalization_share(r.example.persona, answer))


@REWARDS.register("sim_task")
async def sim_task_reward(batch: RolloutBatch, ctx: RewardContext) -> tuple[np.ndarray, dict[str, float]]:
    judge = ctx.sim_judges()
    return _scored(batch, lambda r, answer: judge.task_share(r.example.original_query, answer))
