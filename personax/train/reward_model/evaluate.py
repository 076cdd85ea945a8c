"""Pair accuracy of a trained reward model on pairs it did not train on, beside the "longer
rewrite wins" baseline (sim candidates that ask for more tend to be longer: the model has to beat it)."""
from __future__ import annotations

import collections
from typing import Sequence

import numpy as np

from personax.train.reward_model.pairs import PreferencePair
from personax.train.reward_model.scorer import RewardScorer


def pair_accuracy(scorer: RewardScorer, pairs: Sequence[PreferencePair]) -> dict[str, float]:
    """accuracy, BT loss, mean margin, the length baseline, and accuracy per pair kind (the part of
    `id` after the last "/", e.g. "oracle>copy" for sim pairs; ids without one are not broken down)."""
    if not pairs:
        raise ValueError("no pairs to evaluate")
    contexts = [p.context for p in pairs]
    margin_N = scorer.score(contexts, [p.chosen for p in pairs]) - scorer.score(contexts, [p.rejected for p in pairs])
    out = {"pairs": float(len(pairs)), "accuracy": float(np.mean(margin_N > 0)),
           "loss": float(np.mean(np.logaddexp(0.0, -margin_N))), "margin": float(np.mean(margin_N)),
           "longer_wins_accuracy": float(np.mean([len(p.chosen) > len(p.rejected) for p in pairs]))}
    kinds = collections.defaultdict(list)
    for p, m in zip(pairs, margin_N):
        if "/" in p.id:
            kinds[p.id.rsplit("/", 1)[1]].append(m > 0)
    return out | {f"accuracy/{k}": float(np.mean(v)) for k, v in sorted(kinds.items())}
