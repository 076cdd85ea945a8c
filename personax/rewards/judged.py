"""Judge-scored rewards (SPEC §2.3): `profile` and `task_pairwise`."""
from __future__ import annotations

import asyncio
import math
from typing import Mapping

import numpy as np

from personax.eval.judges import Judges
from personax.llm.sim.rng import derive
from personax.rewards.base import REWARDS, RewardContext, as_scores, summary
from personax.rewards.batch import Rollout, RolloutBatch


def profile_unit(rating: float) -> float:
    """The profile judge's 1..5 rating as a score in [0, 1]: (s − 1) / 4."""
    return (rating - 1.0) / 4.0


async def profile_rating(judges: Judges, profile: str, persona: Mapping[str, str]) -> float:
    """The profile judge's 1..5 rating of a profile against the true persona. No profile at all is 1
    without asking: that is a bad output, not a failed call."""
    return await judges.profile(profile, persona) if profile.strip() else 1.0


@REWARDS.register("profile")
async def profile_reward(batch: RolloutBatch, ctx: RewardContext) -> tuple[np.ndarray, dict[str, float]]:
    """`profile_unit` of the profile judge's rating of the REASONING (`profile_rating`)."""
    judges, slots = ctx.need_judges("profile"), asyncio.Semaphore(ctx.concurrency)

    async def one(r: Rollout) -> float:
        async with slots:
            return profile_unit(await profile_rating(judges, r.parsed.reasoning, r.example.persona))

    scores_N = as_scores(await asyncio.gather(*(one(r) for r in batch.rollouts)))
    empty = sum(not r.parsed.reasoning.strip() for r in batch.rollouts)
    return scores_N, summary(scores_N) | {"empty_profile": float(empty)}


@REWARDS.register("task_pairwise")
async def task_pairwise_reward(batch: RolloutBatch, ctx: RewardContext) -> tuple[np.ndarray, dict[str, float]]:
    """1 when the judge prefers the answer to the rewrite over the answer to the original query,
    judged against the ORIGINAL query; 0 on a loss or tie. Which answer is shown as A is a seeded
    coin per rollout, so a judge's position bias averages out instead of becoming reward."""
    judges, slots = ctx.need_judges("task_pairwise"), asyncio.Semaphore(ctx.concurrency)

    async def one(i: int, r: Rollout) -> tuple[float, str, bool | None]:
        if not r.answers.ok:
            return math.nan, "failed", None
        if r.answers.rewrite == r.answers.original:  # the same prompt: nothing to compare
            return 0.0, "identical", None
        rewrite_is_a = derive(ctx.seed, "pairwise_ab", ctx.step, i).random() < 0.5
        a, b = (r.answers.rewrite, r.answers.original) if rewrite_is_a else (r.answers.original, r.answers.rewrite)
        async with slots:
            verdict = await judges.pairwise(r.example.persona, r.example.original_query, a, b)
        if verdict is None:
            return math.nan, "unparseable", rewrite_is_a
        outcome = "tie" if verdict == "tie" else "win" if (verdict == "A") == rewrite_is_a else "lose"
        return float(outcome == "win"), outcome, rewrite_is_a

    results = await asyncio.gather(*(one(i, r) for i, r in enumerate(batch.rollouts)))
    scores_N = as_scores([s for s, _, _ in results])
    outcomes = [o for _, o, _ in results]
    judged = max(sum(o in ("win", "lose", "tie") for o in outcomes), 1)
    shown = [a for _, _, a in results if a is not None]
    metrics = summary(scores_N) | {f"{o}_frac": outcomes.count(o) / judged for o in ("win", "lose", "tie")}
    metrics |= {o: float(outcomes.count(o)) for o in ("failed", "identical", "unparseable")}
    metrics["rewrite_shown_as_a_frac"] = sum(shown) / len(shown) if shown else math.nan
    return scores_N, metrics
