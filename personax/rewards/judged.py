"""Judge-scored rewards (SPEC §2.3): `profile` and `task_pairwise`."""
from __future__ import annotations

import asyncio
import math

import numpy as np

from personax.llm.sim.rng import derive
from personax.rewards.base import REWARDS, RewardContext, as_scores, summary
from personax.rewards.batch import Rollout, RolloutBatch


@REWARDS.register("profile")
async def profile_reward(batch: RolloutBatch, ctx: RewardContext) -> tuple[np.ndarray, dict[str, float]]:
    """(s − 1) / 4 of the profile judge's 1..5 rating of the REASONING against the true persona.
    No profile at all scores 0 without asking: that is a bad output, not a failed call."""
    judges, slots = ctx.need_judges("profile"), asyncio.Semaphore(ctx.concurrency)

    async def one(r: Rollout) -> float:
        if not r.parsed.reasoning.strip():
            return 0.0
        async with slots:
            return (await judges.profile(r.parsed.reasoning, r.example.persona) - 1.0) / 4.0

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
