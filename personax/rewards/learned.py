"""`learned_rm`: a trained Bradley–Terry reward model's score of each rollout's (state, rewrite),
squashed to [0, 1] by a sigmoid. The model is a `personax reward-model train` output folder
(`WORKDIR/reward_model`), named by `rewards.learned_rm.checkpoint`.

Loading is the caller's act, once per run: `build_scorer(rewards_cfg)` returns None when the
reward's weight is 0 or absent (nothing is loaded) and the scorer otherwise; the reward reads it
from `ctx.learned_rm`. Without one it scores NaN (so a weight-0 entry logs `loaded 0` and leaves
R alone). JAX is imported only when a model is loaded.
"""
from __future__ import annotations

import asyncio

import ml_collections
import numpy as np

from personax.rewards.base import REWARDS, RewardContext
from personax.rewards.batch import RolloutBatch


def get_learned_rm_config() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(dict(
        checkpoint="",  # a reward model folder (WORKDIR/reward_model); needed when weights.learned_rm != 0
        step=-1,  # its checkpoint step; -1: the latest
        batch_size=16,  # (state, rewrite) rows per forward pass
    ))


def build_scorer(rewards_cfg: ml_collections.ConfigDict):
    """The loaded reward model (`personax.train.reward_model.scorer.RewardScorer`), or None when
    `weights.learned_rm` is 0 or absent."""
    if not float(rewards_cfg.weights.to_dict().get("learned_rm", 0.0)):
        return None
    c = rewards_cfg.get("learned_rm") or get_learned_rm_config()
    if not c.checkpoint:
        raise ValueError("rewards.weights.learned_rm is non-zero but rewards.learned_rm.checkpoint is empty: "
                         "name a reward model folder (WORKDIR/reward_model from `personax reward-model train`)")
    from personax.train.reward_model.scorer import RewardScorer
    return RewardScorer.load(c.checkpoint, None if c.step < 0 else c.step, c.batch_size)


@REWARDS.register("learned_rm")
async def learned_rm_reward(batch: RolloutBatch, ctx: RewardContext) -> tuple[np.ndarray, dict[str, float]]:
    scorer = getattr(ctx, "learned_rm", None)
    if scorer is None:
        return np.full(len(batch), np.nan, np.float32), {"mean": float("nan"), "nan": float(len(batch)), "loaded": 0.0}
    # Off the event loop: the judged rewards gathered beside this one keep their calls moving.
    raw_N = await asyncio.to_thread(scorer.score, [r.example.input for r in batch.rollouts],
                                    [r.parsed.prompt for r in batch.rollouts])
    if not np.all(np.isfinite(raw_N)):
        bad = int((~np.isfinite(raw_N)).sum())
        raise FloatingPointError(f"reward model (step {scorer.step}) gave non-finite scores to {bad} of "
                                 f"{len(raw_N)} rollouts: the checkpoint is broken")
    scores_N = (1.0 / (1.0 + np.exp(-raw_N.astype(np.float64)))).astype(np.float32)
    metrics = {"mean": float(scores_N.mean()) if len(batch) else float("nan"), "nan": 0.0, "loaded": 1.0,
               "raw_mean": float(raw_N.mean()) if len(batch) else float("nan"),
               "raw_std": float(raw_N.std()) if len(batch) else float("nan")}
    return scores_N, metrics
