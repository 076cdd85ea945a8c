"""`personax eval --config configs/X.py --workdir DIR`: every configured method on the held-out split,
judged, with the report in DIR/report/. Rerun the same command to resume."""
from __future__ import annotations

import argparse
import pathlib


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="an experiment config file (configs/*.py)")
    p.add_argument("--workdir", required=True, type=pathlib.Path)


def _cell(stat: dict) -> str:
    return "–" if stat["mean"] is None else f"{stat['mean']:.2f} [{stat['lo']:.2f}, {stat['hi']:.2f}]"


def run(args: argparse.Namespace) -> int:
    from personax.cli import UserError
    from personax.configfile import ConfigError, apply_override, load_config
    from personax.eval.config import get_eval_config
    from personax.eval.run import run_eval

    try:
        cfg = load_config(args.config)
        if "eval" not in cfg:  # a config written before the eval section existed
            cfg.eval = get_eval_config()
        for name, value in args.config_overrides:
            apply_override(cfg, name, value)
    except ConfigError as e:
        raise UserError(str(e)) from None
    summary = run_eval(cfg, args.workdir)
    for name, m in summary["methods"].items():
        print(f"{name:24s} personalization {_cell(m['personalization'])}  task {_cell(m['task'])}  "
              f"win {_cell(m['win'])}")
    for name, note in summary["skipped"].items():
        print(f"{name:24s} skipped: {note}")
    if summary["sim"]:
        print("(sim backends: these numbers describe the sim world only)")
    print(f"report: {args.workdir / 'report' / 'report.md'}")
    return 0
