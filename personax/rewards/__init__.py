"""PPOpt rewards (SPEC §2.3): registered reward functions, their weighted total, the rollout batch
they read and the config that builds the deployed LLM and judges. See docs/rewards.md."""
from personax.rewards import formatting, judged, learned, sim  # noqa: F401  (registers the rewards)
from personax.rewards.base import REWARDS, RewardContext, RewardFn, summary
from personax.rewards.batch import Answers, Rollout, RolloutBatch, build_rollout_answers, rollout_batch
from personax.rewards.combine import DEFAULT_WEIGHTS, combine
from personax.rewards.config import (BACKENDS, build_deployed, build_judges, get_rewards_config, reward_context,
                                     reward_fn, role_model)

__all__ = [
    "BACKENDS", "DEFAULT_WEIGHTS", "REWARDS", "Answers", "Rollout", "RolloutBatch", "RewardContext", "RewardFn",
    "build_deployed", "build_judges", "build_rollout_answers", "combine", "get_rewards_config", "reward_context",
    "reward_fn", "role_model", "rollout_batch", "summary",
]
