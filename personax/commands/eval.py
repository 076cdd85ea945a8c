"""`personax eval --config configs/X.py --workdir DIR`: every configured method on the held-out split,
judged, with the report in DIR/report/. Rerun the same command to resume."""
from __future__ import annotations

import argparse

from personax.commands import add_experiment_arguments as add_arguments  # noqa: F401
from personax.commands import experiment_config


def _cell(stat: dict) -> str:
    return "–" if stat["mean"] is None else f"{stat['mean']:.2f} [{stat['lo']:.2f}, {stat['hi']:.2f}]"


def run(args: argparse.Namespace) -> int:
    from personax.eval.run import run_eval

    summary = run_eval(experiment_config(args), args.workdir)
    for name, m in summary["methods"].items():
        print(f"{name:24s} personalization {_cell(m['personalization'])}  task {_cell(m['task'])}  "
              f"win {_cell(m['win'])}")
    for name, note in summary["skipped"].items():
        print(f"{name:24s} skipped: {note}")
    if summary["sim"]:
        print("(sim backends: these numbers describe the sim world only)")
    print(f"report: {args.workdir / 'report' / 'report.md'}")
    return 0
