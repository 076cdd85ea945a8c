"""The sim world's exact scores of the answer to the rewrite, in [0, 1] (sim world only):
`sim_personalization` (the persona's constraint traits the answer satisfies) and `sim_task` (the
share of the original request's content it covers). The answer to the original query is scored
too and logged beside it, so a step's gain over the unrewritten prompt is visible.

`sim_personalization_expected` scores the rewrite itself: the personalization share the sim deployed
model's answer has in expectation over its follow draws (`SimJudges.expected_personalization_share`,
in [−1, 1]). No sampled answer enters it, so two rewrites that ask for the same traits with the same
phrasings score the same: the noise a G-sized group would otherwise have to average out is gone."""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

from personax.rewards.base import REWARDS, RewardContext, as_scores, summary
from personax.rewards.batch import Rollout, RolloutBatch


def _beside_original(rewrite_N: np.ndarray, original_N: np.ndarray) -> tuple[np.ndarray, dict[str, float]]:
    metrics = summary(rewrite_N) | summary(original_N, "original_")
    metrics["delta"] = metrics["mean"] - metrics["original_mean"]
    return rewrite_N, metrics


def _scored(batch: RolloutBatch, score: Callable[[Rollout, str], float]) -> tuple[np.ndarray, dict[str, float]]:
    rewrite_N = as_scores([score(r, r.answers.rewrite) if r.answers.ok else math.nan for r in batch.rollouts])
    original_N = as_scores([score(r, r.answers.original) if r.answers.ok else math.nan for r in batch.rollouts])
    return _beside_original(rewrite_N, original_N)


@REWARDS.register("sim_personalization")
async def sim_personalization_reward(batch: RolloutBatch, ctx: RewardContext) -> tuple[np.ndarray, dict[str, float]]:
    judge = ctx.sim_judges()
    return _scored(batch, lambda r, answer: judge.personalization_share(r.example.persona, answer))


@REWARDS.register("sim_personalization_expected")
async def sim_personalization_expected_reward(batch: RolloutBatch, ctx: RewardContext) -> tuple[np.ndarray, dict[str, float]]:
    judge, deployed = ctx.sim_judges(), ctx.need_sim_deployed("sim_personalization_expected")

    def expected(r: Rollout, prompt: str) -> float:
        return judge.expected_personalization_share(r.example.persona, deployed.follow_odds(prompt))
    return _beside_original(as_scores([expected(r, r.parsed.prompt) for r in batch.rollouts]),
                            as_scores([expected(r, r.example.original_query) for r in batch.rollouts]))


@REWARDS.register("sim_task")
async def sim_task_reward(batch: RolloutBatch, ctx: RewardContext) -> tuple[np.ndarray, dict[str, float]]:
    judge = ctx.sim_judges()
    return _scored(batch, lambda r, answer: judge.task_share(r.example.original_query, answer))
