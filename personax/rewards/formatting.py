"""Rewards on the completion's shape alone, never NaN:
- `format`: 1 when the completion is exactly <REASONING>…</REASONING><PROMPT>…</PROMPT> with both
  parts non-empty (whitespace around the tags allowed, nothing else), else 0;
- `repetition`: the share of the profile's and the rewrite's word 4-grams that are not repeats of an
  earlier one in the same part (1: nothing repeated), so a profile that loops over its cues scores low
  while quoting a query's cue in the profile and keeping it in the rewrite costs nothing."""
from __future__ import annotations

import re

import numpy as np

from personax.data.policy_io import count_statuses, distinct_share
from personax.rewards.base import REWARDS, RewardContext, as_scores, summary
from personax.rewards.batch import RolloutBatch

_WELL_FORMED = re.compile(r"\s*<reasoning>(?P<r>.*?)</reasoning>\s*<prompt>(?P<p>.*?)</prompt>\s*", re.S | re.I)
_TAG = re.compile(r"</?(reasoning|prompt)>", re.I)


def well_formed(text: str) -> bool:
    match = _WELL_FORMED.fullmatch(text)
    return bool(match and match["r"].strip() and match["p"].strip() and not _TAG.search(match["r"] + match["p"]))


@REWARDS.register("format")
async def format_reward(batch: RolloutBatch, ctx: RewardContext) -> tuple[np.ndarray, dict[str, float]]:
    scores_N = as_scores([float(well_formed(r.text)) for r in batch.rollouts])
    n = max(len(batch), 1)
    metrics = {"mean": float(scores_N.mean()) if len(batch) else 0.0, "nan": 0.0}
    metrics |= {f"status_{k}_frac": v / n for k, v in count_statuses(r.parsed for r in batch.rollouts).items()}
    return scores_N, metrics


@REWARDS.register("repetition")
async def repetition_reward(batch: RolloutBatch, ctx: RewardContext) -> tuple[np.ndarray, dict[str, float]]:
    scores_N = as_scores([distinct_share((r.parsed.reasoning, r.parsed.prompt)) for r in batch.rollouts])
    return scores_N, {**summary(scores_N), "repeats_frac": float((scores_N < 1.0).mean())}
