"""A stage gain over replicate training runs, with an interval that covers the training run too.

A report's paired interval (`stats.stage_gains`) resamples held-out states: it says how sure one run's
gain is on other states, not whether another run of the same recipe gains as much. Given R evaluated
workdirs of one recipe on the same held-out states (replicate draws, e.g. `--config.grpo.seed=N` from
one SFT checkpoint, docs/training.md), this reads each `report/items.jsonl`, takes the per-state
differences after − before, and bootstraps runs and states together: each resample draws R runs and
N states with replacement (the same states for every run drawn, as they were evaluated on the same
states; personas, each with all its states, when a persona holds several) and averages. With few
runs (R = 2-4) the interval is as coarse as the runs are few.

    python -m personax.eval.replicates workdir/run_a workdir/run_b workdir/run_c   # ppopt_sft -> ppopt_grpo
    python -m personax.eval.replicates W1 W2 --before ppopt_zero_shot --after ppopt_sft
"""
from __future__ import annotations

import argparse
import json
import pathlib
from typing import Sequence

import numpy as np

from personax.eval.harness import ItemStore
from personax.eval.stats import GAIN_METRICS, group_index, resample_unit, stage_gains


def read_run(workdir: str | pathlib.Path) -> tuple[dict[str, list[dict]], dict[str, float]]:
    """(method -> items, the run's reward weights) from `WORKDIR/report/`."""
    report = pathlib.Path(workdir) / "report"
    items_path, summary_path = report / "items.jsonl", report / "summary.json"
    for path in (items_path, summary_path):
        if not path.exists():
            raise FileNotFoundError(f"{path}: no evaluation here; run `personax eval --workdir {workdir}` first")
    by_method: dict[str, list[dict]] = {}
    for item in ItemStore(items_path).items.values():  # the last line per (state, method), as the report reads it
        by_method.setdefault(item["method"], []).append(item)
    weights = json.loads(summary_path.read_text()).get("reward_weights", {})
    return by_method, {name: w for name, w in weights.items() if w}  # a 0 weight is logged, not rewarded


def differences_RxN(runs: Sequence[dict[str, list[dict]]], weights: dict[str, float], before: str, after: str,
                    metric: str, names: Sequence[str]) -> tuple[np.ndarray, list[str], list[str]]:
    """([runs, states] of after − before, the states, each state's persona) on the states every run scored
    both methods on, in a fixed order."""
    value = GAIN_METRICS[metric]
    per_run, unit = [], {}
    for name, by_method in zip(names, runs):
        missing = [m for m in (before, after) if not by_method.get(m)]
        if missing:
            raise ValueError(f"{name}: no items of {missing} in report/items.jsonl; evaluate them there first")
        first = {i["state_id"]: value(i, weights) for i in by_method[before]}
        then = {i["state_id"]: value(i, weights) for i in by_method[after]}
        unit |= {i["state_id"]: resample_unit(i) for i in by_method[after]}
        per_run.append({s: v - first[s] for s, v in then.items() if v is not None and first.get(s) is not None})
    states = sorted(set.intersection(*(set(d) for d in per_run)))
    if not states:
        raise ValueError(f"the runs {list(names)} share no held-out state scored by both {before} and {after}")
    return np.array([[d[s] for s in states] for d in per_run]), states, [unit[s] for s in states]


def replicate_interval(diffs_RxN: np.ndarray, seed: int = 0, samples: int = 2000, confidence: float = 0.95,
                       groups_N: Sequence[str] | None = None) -> tuple[float, float]:
    """Percentile interval of the mean over resamples of runs and states (both with replacement); with
    `groups_N` (each state's persona) personas are drawn, each with all its states."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    rng = np.random.default_rng(seed)
    R, N = diffs_RxN.shape
    group_N = group_index(range(N) if groups_N is None else groups_N)
    sums_RxG = np.stack([np.bincount(group_N, weights=row) for row in diffs_RxN])
    counts_G = np.bincount(group_N)
    runs_SxR, groups_SxG = rng.integers(0, R, (samples, R)), rng.integers(0, counts_G.size, (samples, counts_G.size))
    means_S = np.array([sums_RxG[r][:, g].sum() / (R * counts_G[g].sum()) for r, g in zip(runs_SxR, groups_SxG)])
    tail = (1 - confidence) / 2 * 100
    lo, hi = np.percentile(means_S, [tail, 100 - tail])
    return float(lo), float(hi)


def replicate_gains(workdirs: Sequence[str | pathlib.Path], before: str = "ppopt_sft", after: str = "ppopt_grpo",
                    seed: int = 0, confidence: float = 0.95) -> dict:
    """{"runs": [{workdir, metric: {mean, lo, hi, n}}], metric: {mean, lo, hi, sd_between_runs, states}}."""
    if len(workdirs) < 2:
        raise ValueError(f"replicates: need at least 2 workdirs, got {len(workdirs)}")
    names = [str(w) for w in workdirs]
    read = [read_run(w) for w in workdirs]
    runs, weights = [r[0] for r in read], read[0][1]
    for name, (_, w) in zip(names, read):
        if w != weights:
            raise ValueError(f"{name}: reward weights {w} differ from {names[0]}'s {weights}; not one recipe")
    out: dict = {}
    for metric, value in GAIN_METRICS.items():  # personalization first: checks both methods scored, shared states
        if metric != "personalization" and not all(any(value(i, weights) is not None for i in r[m])
                                                    for r in runs for m in (before, after)):
            out[metric] = {"mean": None, "lo": None, "hi": None, "states": 0, "sd_between_runs": None}
            continue  # a baseline writes no profile, so it has no profile or held-out reward to gain on
        diffs_RxN, states, personas = differences_RxN(runs, weights, before, after, metric, names)
        lo, hi = replicate_interval(diffs_RxN, seed, confidence=confidence, groups_N=personas)
        out[metric] = {"mean": float(diffs_RxN.mean()), "lo": lo, "hi": hi, "states": len(states),
                       "sd_between_runs": float(diffs_RxN.mean(axis=1).std(ddof=1))}
    out["runs"] = [{"workdir": n, **stage_gains(r, [(before, after)], weights, seed, confidence=confidence)
                    [f"{before}->{after}"]} for n, r in zip(names, runs)]
    return out


def render(gains: dict, before: str, after: str) -> str:
    cell = lambda s: "–" if s["mean"] is None else f"{s['mean']:+.3f} [{s['lo']:+.3f}, {s['hi']:+.3f}]"  # noqa: E731
    lines = [f"{before} -> {after}, paired over held-out states (brackets: 95% bootstrap)", "",
             "| run | Δ personalization | Δ task | Δ profile | Δ R |", "|---|---|---|---|---|"]
    lines += [f"| {r['workdir']} | " + " | ".join(cell(r[m]) for m in GAIN_METRICS) + " |" for r in gains["runs"]]
    lines.append(f"| **all {len(gains['runs'])} runs** (runs and states resampled) | "
                 + " | ".join(cell(gains[m]) for m in GAIN_METRICS) + " |")
    lines += ["", "sd of the run means: " + ", ".join(f"{m} {gains[m]['sd_between_runs']:.3f}" for m in GAIN_METRICS
                                                     if gains[m]["sd_between_runs"] is not None)]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("workdirs", nargs="+", help="evaluated workdirs of one recipe (replicate runs)")
    p.add_argument("--before", default="ppopt_sft")
    p.add_argument("--after", default="ppopt_grpo")
    p.add_argument("--json", action="store_true", help="print the numbers as JSON instead of a table")
    args = p.parse_args(argv)
    try:
        gains = replicate_gains(args.workdirs, args.before, args.after)
    except (ValueError, FileNotFoundError) as e:
        raise SystemExit(f"replicates: {e}")
    print(json.dumps(gains, indent=1) if args.json else render(gains, args.before, args.after))


if __name__ == "__main__":
    main()
