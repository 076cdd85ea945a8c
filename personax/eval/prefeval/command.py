"""`personax prefeval --config configs/eval/prefeval_smollm2.py --workdir DIR`: PrefEval MCQ accuracy of
every configured method (and the four-check judge when enabled), reported in DIR/report/prefeval.md.
Rerun the same command to resume."""
from __future__ import annotations

import argparse

from personax.commands import add_experiment_arguments as add_arguments  # noqa: F401
from personax.commands import experiment_config


def _cell(s: dict) -> str:
    return "–" if s["mean"] is None else f"{s['mean']:.2f} [{s['lo']:.2f}, {s['hi']:.2f}]"


def run(args: argparse.Namespace) -> int:
    from personax.cli import UserError
    from personax.eval.prefeval.run import run_prefeval

    cfg = experiment_config(args)
    if "prefeval" not in cfg:
        raise UserError(f"{args.config} has no prefeval section (see configs/eval/prefeval_smollm2.py)")
    try:
        summary = run_prefeval(cfg, args.workdir)
    except (ValueError, FileNotFoundError) as err:
        raise UserError(str(err)) from None
    print(f"{summary['n_items']} PrefEval states, chance {summary['chance']:.2f}")
    for name, m in summary["methods"].items():
        cells = "  ".join(f"{sc} {_cell(s['accuracy'])} Δ {_cell(s['delta'])}" for sc, s in m["mcq"].items())
        follows = f"  follows {_cell(m['judge']['follows'])}" if "judge" in m else ""
        print(f"{name:24s} {cells}{follows}")
    for name, note in summary["skipped"].items():
        print(f"{name:24s} skipped: {note}")
    print(f"report: {args.workdir / 'report' / 'prefeval.md'}")
    return 0
