"""Dropping rollouts whose reward calls failed, handling completions cut at the token budget (kept,
dropped, or paid a fixed reward), and aborting when too many reward calls fail.

Rows keep the sampler's fixed [N] prompt-major layout (shapes stay static under jit); a dropped
rollout is a False in `valid_N`, which the advantages leave out of group statistics and
`drop_rows` removes from the loss mask.
"""
from __future__ import annotations

import collections
import dataclasses

import numpy as np


def valid_rollouts(ok_N, group_size: int, min_valid_per_group: int = 2,
                   stopped_N=None) -> tuple[np.ndarray, dict[str, float]]:
    """ok_N: True where every reward call of the rollout succeeded. stopped_N (optional): True where
    the completion ended with a stop token; the others, cut at the token budget, are dropped too (the
    overlong filter: a cut rewrite is neither rewarded nor punished for the part it never wrote). A
    group left with fewer than `min_valid_per_group` valid members is dropped whole: it has no
    relative signal."""
    ok_N = np.asarray(ok_N)
    if ok_N.ndim != 1 or ok_N.dtype != bool:
        raise ValueError(f"ok flags must be a 1-D bool array, got dtype {ok_N.dtype} shape {ok_N.shape}")
    if group_size < 1 or ok_N.shape[0] % group_size:
        raise ValueError(f"{ok_N.shape[0]} rollouts do not split into groups of G={group_size}")
    if not 1 <= min_valid_per_group <= group_size:
        raise ValueError(f"min_valid_per_group must be in [1, G={group_size}], got {min_valid_per_group}")
    keep_N = ok_N
    if stopped_N is not None:
        stopped_N = np.asarray(stopped_N, bool)
        if stopped_N.shape != ok_N.shape:
            raise ValueError(f"stopped flags have shape {stopped_N.shape}, ok flags {ok_N.shape}")
        keep_N = ok_N & stopped_N
    keep_BxG = keep_N.reshape(-1, group_size)
    kept_B = keep_BxG.sum(-1) >= min_valid_per_group
    valid_N = (keep_BxG & kept_B[:, None]).reshape(-1)
    metrics = {
        "rollout_failure_rate": float(1.0 - ok_N.mean()),
        "dropped_group_frac": float(1.0 - kept_B.mean()),
        "valid_rollout_frac": float(valid_N.mean()),
    }
    if stopped_N is not None:
        metrics["truncated_dropped_frac"] = float((ok_N & ~stopped_N).mean())
    return valid_N, metrics


TRUNCATED_MODES = ("keep", "drop", "penalize")


def penalize_truncated(R_N, stopped_N, reward: float) -> tuple[np.ndarray, dict[str, float]]:
    """The overlong penalty: a completion cut before its stop token gets `reward` as its total
    whatever its terms said (a failed reward call stays NaN and is dropped as before)."""
    R_N, stopped_N = np.asarray(R_N, np.float64), np.asarray(stopped_N, bool)
    if R_N.shape != stopped_N.shape or R_N.ndim != 1:
        raise ValueError(f"rewards have shape {R_N.shape}, stopped flags {stopped_N.shape}; both must be [N]")
    cut_N = ~stopped_N & np.isfinite(R_N)
    return np.where(cut_N, float(reward), R_N), {"truncated_penalized_frac": float(cut_N.mean())}


def drop_rows(mask_NxT, valid_N):
    """The completion mask with dropped rollouts' rows cleared (works on NumPy and JAX arrays)."""
    if mask_NxT.shape[:1] != valid_N.shape:
        raise ValueError(f"mask has {mask_NxT.shape[0]} rows but valid has {valid_N.shape[0]}")
    return mask_NxT * valid_N[:, None].astype(mask_NxT.dtype)


class TooManyFailuresError(RuntimeError):
    pass


@dataclasses.dataclass
class FailureRateTracker:
    """Failure rate over the most recent `window` rollouts. Judged only once `min_rollouts` have
    been seen, so one unlucky first batch of a few rollouts does not end a run."""
    max_rate: float = 0.8
    window: int = 256
    min_rollouts: int = 32
    recent: collections.deque = dataclasses.field(default_factory=collections.deque)

    def __post_init__(self):
        if not 0 <= self.max_rate < 1:
            raise ValueError(f"max_rate must be in [0, 1), got {self.max_rate}")
        if not 1 <= self.min_rollouts <= self.window:
            raise ValueError(f"need 1 <= min_rollouts ({self.min_rollouts}) <= window ({self.window})")
        self.recent = collections.deque((bool(x) for x in self.recent), maxlen=self.window)

    @property
    def rate(self) -> float:
        return sum(self.recent) / len(self.recent) if self.recent else 0.0

    def update(self, failed_N) -> float:
        """Records one batch (True = failed); returns the windowed rate or raises when it is too high."""
        self.recent.extend(bool(x) for x in np.asarray(failed_N).reshape(-1))
        rate = self.rate
        if len(self.recent) >= self.min_rollouts and rate > self.max_rate:
            raise TooManyFailuresError(
                f"{sum(self.recent)} of the last {len(self.recent)} rollouts failed their reward calls "
                f"(rate {rate:.2f} > max {self.max_rate:.2f}); check the deployed LLM and judge backends "
                "(keys, endpoints, rate limits) before resuming")
        return rate

    def state(self) -> list[bool]:
        """JSON-able state for a checkpoint; `FailureRateTracker(..., recent=state)` restores it."""
        return list(self.recent)
