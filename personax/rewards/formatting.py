"""Rewards on the completion's shape alone, never NaN:
- `format`: 1 when the completion is exactly <REASONING>…</REASONING><PROMPT>…</PROMPT> with both
  parts non-empty (whitespace around the tags allowed, nothing else), else 0;
- `repetition`: the share of the profile's and the rewrite's word 4-grams that are not repeats of an
  earlier one in the same part (1: nothing repeated), so a profile that loops over its cues scores low
  while quoting a query's cue in the profile and keeping it in the rewrite costs nothing."""
from __future__ import annotations

import re

import numpy as np

from personax.data.policy_io import count_statuses
from personax.rewards.base import REWARDS, RewardContext, as_scores
from personax.rewards.batch import RolloutBatch

_WELL_FORMED = re.compile(r"\s*<reasoning>(?P<r>.*?)</reasoning>\s*<prompt>(?P<p>.*?)</prompt>\s*", re.S | re.I)
_TAG = re.compile(r"</?(reasoning|prompt)>", re.I)
REPEAT_NGRAM = 4  # words: long enough that the teacher's "they wrote ..., so label: value" frame never repeats


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


def ngram_counts(text: str, n: int = REPEAT_NGRAM) -> tuple[int, int]:
    """(distinct, total) word n-grams of `text`, case-folded."""
    words = text.lower().split()
    grams = [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
    return len(set(grams)), len(grams)


def distinct_share(parts: tuple[str, ...]) -> float:
    """Distinct over total n-grams summed over the parts, each part counted on its own; 1.0 with none."""
    distinct, total = (sum(c) for c in zip(*(ngram_counts(p) for p in parts)))
    return distinct / total if total else 1.0


@REWARDS.register("repetition")
async def repetition_reward(batch: RolloutBatch, ctx: RewardContext) -> tuple[np.ndarray, dict[str, float]]:
    scores_N = as_scores([distinct_share((r.parsed.reasoning, r.parsed.prompt)) for r in batch.rollouts])
    n = max(len(batch), 1)
    return scores_N, {"mean": float(scores_N.sum()) / n if len(batch) else 0.0, "nan": 0.0,
                      "repeats_frac": float((scores_N < 1.0).sum()) / n}
