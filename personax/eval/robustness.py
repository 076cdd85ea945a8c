"""Robustness sweeps (SPEC §2.5): the same held-out states with their histories changed, every point
scored by `eval.robustness.methods` through the same harness, into its own resumable
`WORKDIR/report/robustness/<point>/items.jsonl`.

Sweeps (robustness_points.py): `noise` (one curve per distractor layer: each eligible user message noised
in that layer with probability r, clean otherwise; r = 0 is one shared point), `sparsity` (the last k
sessions), `traits` (histories simulated again with the sim user's `express_scale`; sim generator only).
"""
from __future__ import annotations

import asyncio
import pathlib
from typing import Sequence

import ml_collections

from personax.data.examples import PPOptExample
from personax.eval.harness import BASELINE, Harness, ItemStore, fingerprint, scored_items, summarize_methods
from personax.eval.judges import Judges
from personax.eval.methods import MethodContext, get_method
from personax.eval.robustness_points import Sweeps, build_sweeps


def run_robustness(cfg: ml_collections.ConfigDict, workdir: pathlib.Path, examples: Sequence[PPOptExample],
                   ctx: MethodContext, judges: Judges, config_fp: str) -> dict:
    """Every point of every configured sweep, scored and summarized (summary["robustness"])."""
    r, e = cfg.eval.robustness, cfg.eval
    examples = list(examples[:r.max_examples] if r.max_examples > 0 else examples)
    names = list(dict.fromkeys([BASELINE, *r.methods]))
    methods = [get_method(n) for n in names]
    root = workdir / "report" / "robustness"

    async def go() -> tuple[Sweeps, dict[str, dict]]:
        sweeps, answers, results = await build_sweeps(cfg, workdir, examples), {}, {}
        for key, point in sweeps.points.items():
            store = ItemStore(root / key / "items.jsonl")
            harness = Harness(ctx.deployed, judges, store, fingerprint(config_fp, key, point.spec), e.concurrency,
                              answers, e.answers_per_prompt)
            notes = await harness.run_methods(methods, point.examples, ctx)
            store.compact()
            by_method = scored_items(store, [n for n in names if n not in notes], point.examples)
            results[key] = {"methods": summarize_methods(by_method, e.seed, e.bootstrap_samples, e.confidence,
                                                             dict(cfg.rewards.weights)),
                            "skipped": notes, "measured": point.measured}
            print(f"robustness: {key} scored ({len(point.examples)} states)", flush=True)
        return sweeps, results
    sweeps, results = asyncio.run(go())
    curves = {curve: [{"x": x, "key": key, **results[key]} for x, key in sorted(pts)]
              for curve, pts in sweeps.curves.items()}
    return {"n_examples": len(examples), "methods": names, "curves": curves, "skipped": sweeps.skipped,
            "x_labels": sweeps.x_labels}
