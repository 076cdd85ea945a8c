"""Per-method summary of scored items: means, paired deltas, win/tie/lose, bootstrap intervals."""
from __future__ import annotations

import math
from typing import Callable, Hashable, Iterable, Sequence

import numpy as np

from personax.data.policy_io import distinct_share
from personax.rewards.judged import profile_unit

OUTCOMES = ("win", "tie", "lose")


def bootstrap_ci(values_N: Sequence[float], seed: int, samples: int = 1000, confidence: float = 0.95,
                 groups_N: Sequence[Hashable] | None = None) -> tuple[float, float]:
    """Percentile interval of the mean over `samples` resamples with replacement of the items, or with
    `groups_N` (each item's persona, say) of the groups, a drawn group bringing all its items: a persona's
    held-out states are not independent draws. With one item a group this is the item resample exactly.
    Paired statistics pass per-item differences, so both sides of a pair are drawn together."""
    values_N = np.asarray(values_N, np.float64)
    if values_N.size == 0:
        return math.nan, math.nan
    if not 0 < confidence < 1:
        raise ValueError(f"eval.confidence must be in (0, 1), got {confidence}")
    group_N = group_index(range(values_N.size) if groups_N is None else groups_N)
    if len(group_N) != values_N.size:
        raise ValueError(f"bootstrap_ci: {len(group_N)} groups for {values_N.size} values")
    sums_G, counts_G = np.bincount(group_N, weights=values_N), np.bincount(group_N)
    idx_SxG = np.random.default_rng(seed).integers(0, sums_G.size, (samples, sums_G.size))
    means_S = sums_G[idx_SxG].sum(axis=1) / counts_G[idx_SxG].sum(axis=1)
    tail = (1 - confidence) / 2 * 100
    lo, hi = np.percentile(means_S, [tail, 100 - tail])
    return float(lo), float(hi)


def group_index(groups_N: Iterable[Hashable]) -> np.ndarray:
    """Each item's group as 0, 1, ... in order of first appearance."""
    first: dict = {}
    return np.array([first.setdefault(g, len(first)) for g in groups_N], np.int64)


def resample_unit(item: dict) -> str:
    """What a held-out interval resamples: the item's persona (its states are drawn together)."""
    return item.get("persona_id") or item["state_id"]


def _stat(items: Sequence[dict], value: Callable[[dict], float | None], seed: int, samples: int,
          confidence: float) -> dict:
    """Mean of `value` over the items that have one, with its interval over resampled personas."""
    kept = [(v, resample_unit(i)) for i in items if (v := value(i)) is not None]
    if not kept:
        return {"mean": None, "lo": None, "hi": None, "n": 0}
    values, units = zip(*kept)
    lo, hi = bootstrap_ci(values, seed, samples, confidence, units)
    return {"mean": float(np.mean(values)), "lo": lo, "hi": hi, "n": len(values)}


def _rate(flags: list[bool]) -> float | None:
    return sum(flags) / len(flags) if flags else None


# The sim rewards' held-out estimates: the 1–10 score each is read back from.
SIM_SCORE_KEYS = {"sim_personalization": "personalization", "sim_personalization_expected": "personalization",
                  "sim_task": "task"}


def heldout_reward(item: dict, weights: dict[str, float]) -> float | None:
    """The GRPO reward's judged terms on one held-out item: λ_profile · (profile − 1) / 4 +
    λ_task_pairwise · [the rewrite's answer wins against the original's] + λ_sim_personalization ·
    (personalization − 1) / 9 + λ_sim_task · (task − 1) / 9 (the sim rewards' shares, read back from
    the 1–10 scores; `sim_personalization_expected`, whose held-out estimate is the measured share,
    counts like `sim_personalization`); None without a profile or verdict. `format` and `repetition` (the
    completion's shape) and `learned_rm` are left out."""
    if item.get("profile") is None or item.get("outcomes") is None:
        return None
    total = (weights.get("profile", 0.0) * profile_unit(item["profile"])
             + weights.get("task_pairwise", 0.0) * item["outcomes"]["win"])
    for name, key in SIM_SCORE_KEYS.items():
        if weights.get(name, 0.0):
            if item.get(key) is None:
                return None
            total += weights[name] * (item[key] - 1.0) / 9.0
    return total


def heldout_reward_formula(weights: dict[str, float]) -> str:
    """`heldout_reward` as a sum over the weighted terms, e.g. "0.3 · (profile − 1) / 4 + 0.7 · win"."""
    terms = {"profile": "(profile − 1) / 4", "task_pairwise": "win"}
    terms |= {name: f"({key} − 1) / 9" for name, key in SIM_SCORE_KEYS.items()}
    return " + ".join(f"{weights[name]:g} · {term}" for name, term in terms.items() if weights.get(name)) or "0"


# What a stage gain is measured on, per held-out item (None: the item has no such score, e.g. no profile).
GAIN_METRICS: dict[str, Callable[[dict, dict], float | None]] = {
    "personalization": lambda item, w: item.get("personalization"),
    "task": lambda item, w: item.get("task"),
    "profile": lambda item, w: item.get("profile"),
    "reward": heldout_reward,
}


def stage_gains(by_method: dict[str, Sequence[dict]], pairs: Sequence[tuple[str, str]], weights: dict[str, float],
                seed: int = 0, samples: int = 1000, confidence: float = 0.95) -> dict[str, dict]:
    """"a->b" -> paired (same state) mean differences b − a of each of `GAIN_METRICS`."""
    out = {}
    for a, b in pairs:
        if not by_method.get(a) or not by_method.get(b):
            continue
        first = {i["state_id"]: i for i in by_method[a]}
        both = [i for i in by_method[b] if i["state_id"] in first]
        gains = {}
        for key, metric in GAIN_METRICS.items():
            def diff(y, metric=metric):
                before, after = metric(first[y["state_id"]], weights), metric(y, weights)
                return None if before is None or after is None else after - before
            gains[key] = _stat(both, diff, seed, samples, confidence)
        out[f"{a}->{b}"] = gains
    return out


def _minus(baseline: dict[str, dict], key: str) -> Callable[[dict], float | None]:
    """item -> its `key` minus the baseline's on the same state (None when either is missing)."""
    def delta(item: dict) -> float | None:
        before = baseline.get(item["state_id"], {}).get(key)
        return None if item.get(key) is None or before is None else item[key] - before
    return delta


def summarize_method(items: Sequence[dict], baseline: dict[str, dict], seed: int = 0, samples: int = 1000,
                     confidence: float = 0.95, weights: dict[str, float] | None = None) -> dict:
    """`items`: one method's scored items; `baseline`: state_id -> the original query's item; `weights`:
    the GRPO reward weights, for the held-out reward of methods that write a profile."""
    ok = [i for i in items if i.get("answer") is not None]
    out: dict = {"n": len(items), "answer_failed_rate": _rate([i.get("answer") is None for i in items])}
    stat = lambda value: _stat(ok, value, seed, samples, confidence)  # noqa: E731
    for key in ("personalization", "task"):
        out[key] = stat(lambda i: i.get(key))
        out[f"delta_{key}"] = stat(_minus(baseline, key))
        out[f"{key}_judge_failed_rate"] = _rate([i.get(key) is None for i in ok])
    for outcome in OUTCOMES:  # an item's share of its answers with this outcome (0 or 1 with one answer)
        out[outcome] = stat(lambda i: None if i.get("outcomes") is None else i["outcomes"][outcome])
    with_pairs = [i for i in ok if "outcomes" in i]
    out["pairwise_judge_failed_rate"] = _rate([i["outcomes"] is None for i in with_pairs])
    out["fallback_rate"] = _rate([i.get("status") == "empty" for i in items])
    out["no_prompt_tag_rate"] = _rate([i.get("status") == "no_prompt_tag" for i in items])
    out["answer_words"] = float(np.mean([len(i["answer"].split()) for i in ok])) if ok else None
    out["prompt_words"] = float(np.mean([len(i["prompt"].split()) for i in items])) if items else None
    if any("profile" in i for i in items):
        out["profile"] = stat(lambda i: i.get("profile"))
        out["reward"] = stat(lambda i: heldout_reward(i, weights or {}))
        # the `repetition` reward's share on the greedy outputs: 1.0 when no profile or rewrite repeats itself
        out["distinct_4grams"] = float(np.mean([distinct_share(((i.get("extra") or {}).get("profile") or "",
                                                                i["prompt"])) for i in items]))
    return out
