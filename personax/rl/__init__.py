"""GRPO algorithm core: pure, jit-able pieces the trainer composes (see docs/grpo.md)."""
from personax.rl.advantages import ADVANTAGES, compute_advantages
from personax.rl.aggregation import AGGREGATIONS, aggregate, aggregation_count
from personax.rl.batching import BatchHierarchy, update_schedule
from personax.rl.config import batch_hierarchy, failure_tracker, get_grpo_config, loss_config, sampling_params
from personax.rl.filtering import FailureRateTracker, TooManyFailuresError, drop_rows, valid_rollouts
from personax.rl.kl import KL_ESTIMATORS, kl_per_token
from personax.rl.loss import LossConfig, policy_loss

__all__ = [
    "ADVANTAGES", "AGGREGATIONS", "KL_ESTIMATORS", "BatchHierarchy", "FailureRateTracker", "LossConfig",
    "TooManyFailuresError", "aggregate", "aggregation_count", "batch_hierarchy", "compute_advantages",
    "drop_rows", "failure_tracker", "get_grpo_config", "kl_per_token", "loss_config", "policy_loss",
    "sampling_params", "update_schedule", "valid_rollouts",
]
