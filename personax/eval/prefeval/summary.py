"""Per-method PrefEval summary: MCQ accuracy per scorer with bootstrap intervals, the paired difference
to the original query, per form and topic, position-bias diagnostics, and the four-check judge's rates."""
from __future__ import annotations

import collections
from typing import Callable, Sequence

import ml_collections
import numpy as np

from personax.eval.harness import BASELINE
from personax.eval.prefeval.data import N_OPTIONS
from personax.eval.prefeval.judge import CHECKS
from personax.eval.stats import bootstrap_ci


def interval(values: Sequence[float], p: ml_collections.ConfigDict) -> dict:
    if not values:
        return {"mean": None, "lo": None, "hi": None, "n": 0}
    lo, hi = bootstrap_ci(values, p.seed, p.bootstrap_samples, p.confidence)
    return {"mean": float(np.mean(values)), "lo": lo, "hi": hi, "n": len(values)}


def _by(items: Sequence[dict], key: str, value: Callable[[dict], float]) -> dict[str, dict]:
    groups: dict[str, list[float]] = collections.defaultdict(list)
    for i in items:
        groups[i[key]].append(value(i))
    return {k: {"mean": float(np.mean(v)), "n": len(v)} for k, v in sorted(groups.items())}


def _shares(positions: Sequence[int]) -> list[float]:
    counts = np.bincount(np.asarray(positions, int), minlength=N_OPTIONS)
    return (counts / max(len(positions), 1)).tolist()


def shift_correct(item: dict, base: dict, scorer: str) -> float:
    """Right or wrong when the choice is the option whose score the method's prompt raised most over the
    original query's (same state, same shown order): the options' own pull and any letter prior cancel."""
    shift_O = np.asarray(item["mcq"][scorer]["scores"]) - np.asarray(base["mcq"][scorer]["scores"])
    return float(item["order"][int(np.argmax(shift_O))] == 0)


def _mcq(name: str, items: Sequence[dict], baseline: dict[str, dict], scorer: str, p) -> dict:
    correct = lambda i: float(i["mcq"][scorer]["correct"])  # noqa: E731
    paired = [i for i in items if i["state_id"] in baseline]
    shifted = [shift_correct(i, baseline[i["state_id"]], scorer) for i in paired] if name != BASELINE else []
    return {"accuracy": interval([correct(i) for i in items], p),
            "delta": interval([correct(i) - correct(baseline[i["state_id"]]) for i in paired], p),
            "shift_accuracy": interval(shifted, p),
            "by_form": _by(items, "form", correct), "by_topic": _by(items, "topic", correct),
            "choice_share": _shares([i["mcq"][scorer]["choice"] for i in items]),
            # where the aligned option was shown: the accuracy of always picking one letter
            "aligned_share": _shares([i["order"].index(0) for i in items])}


def _judge(items: Sequence[dict], baseline: dict[str, dict], p) -> dict:
    judged = [i for i in items if i.get("judge")]
    decided = [i for i in judged if i["judge"]["follows"] is not None]
    follows = lambda i: float(i["judge"]["follows"])  # noqa: E731
    paired = [follows(i) - follows(b) for i in decided
              if (b := baseline.get(i["state_id"])) and b.get("judge") and b["judge"]["follows"] is not None]
    checks = {}
    for name, (_, passing) in CHECKS.items():
        seen = [i["judge"]["checks"][name] for i in judged if i["judge"].get("checks", {}).get(name) is not None]
        checks[name] = {"pass_rate": float(np.mean([v == passing for v in seen])) if seen else None, "n": len(seen)}
    return {"follows": interval([follows(i) for i in decided], p), "delta": interval(paired, p),
            "n_judged": len(judged), "undecided": len(judged) - len(decided),
            "answer_failed": sum(i["judge"].get("answer") is None for i in judged), "checks": checks}


def summarize(by_method: dict[str, Sequence[dict]], p: ml_collections.ConfigDict, skipped: dict[str, str],
              judge_stats: dict[str, int]) -> dict:
    baseline = {i["state_id"]: i for i in by_method.get(BASELINE, [])}
    methods = {}
    for name, items in by_method.items():
        statuses = collections.Counter(i["status"] for i in items)
        m = {"n": len(items), "status": dict(statuses),
             "prompt_words": float(np.mean([len(i["prompt"].split()) for i in items])) if items else None,
             "mcq": {sc: _mcq(name, items, baseline, sc, p) for sc in p.mcq.scorers}}
        if any(i.get("judge") for i in items):
            m["judge"] = _judge(items, baseline, p)
        methods[name] = m
    return {"chance": 1.0 / N_OPTIONS, "confidence": p.confidence, "scorers": list(p.mcq.scorers),
            "methods": methods, "skipped": skipped, "judge_stats": judge_stats}
