"""The reward registry and what every reward function receives.

A reward is `async fn(batch, ctx) -> (scores_N float32, metrics)`; NaN marks a rollout whose
score could not be had (a failed call, an unreadable judge reply), which GRPO then drops.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Awaitable, Callable

import numpy as np

from personax.eval.judges import Judges
from personax.llm.sim.deployed import SimDeployed
from personax.llm.sim.judges import SimJudges
from personax.registry import Registry
from personax.rewards.batch import RolloutBatch

RewardFn = Callable[[RolloutBatch, "RewardContext"], Awaitable[tuple[np.ndarray, dict[str, float]]]]
REWARDS: Registry[RewardFn] = Registry("reward")
# The rewards that read only a rollout's REASONING (its profile), none of what follows it: segment credit
# (personax.rl.segments) leaves them out of the advantage of the PROMPT's tokens.
REASONING_ONLY = frozenset({"profile"})


@dataclasses.dataclass
class RewardContext:
    judges: Judges | None = None  # for the judged rewards (profile, task_pairwise): LLM or sim
    sim: SimJudges | None = None  # exact sim-world scores; built on first use when not given
    sim_deployed: SimDeployed | None = None  # the sim deployed model, for rewards that read its follow odds
    seed: int = 0
    step: int = 0  # mixed into the pairwise A/B draw, so each step draws afresh
    concurrency: int = 16  # judge calls in flight per reward
    learned_rm: Any = None  # a loaded learned reward model (rewards.learned.build_scorer), if weighted

    def need_judges(self, reward: str) -> Judges:
        if self.judges is None:
            raise ValueError(f"reward {reward!r} needs judges: build them with rewards.build_judges(cfg)")
        return self.judges

    def need_sim_deployed(self, reward: str) -> SimDeployed:
        if self.sim_deployed is None:
            raise ValueError(f"reward {reward!r} reads the sim deployed model's follow odds: it needs "
                             f"rewards.deployed.backend='sim'")
        return self.sim_deployed

    def sim_judges(self) -> SimJudges:
        if self.sim is None:
            self.sim = SimJudges()
        return self.sim


def summary(scores_N: np.ndarray, prefix: str = "") -> dict[str, float]:
    """Mean over the scored rollouts (NaN when none was) and how many were not scored."""
    finite = scores_N[~np.isnan(scores_N)]
    return {f"{prefix}mean": float(finite.mean()) if finite.size else math.nan,
            f"{prefix}nan": float(scores_N.size - finite.size)}


def as_scores(values: list[float]) -> np.ndarray:
    return np.asarray(values, dtype=np.float32).reshape(-1)
