"""`personax grpo --config configs/X.py --workdir DIR`: the GRPO stage (after data and SFT).
Rerun the same command to resume."""
from __future__ import annotations

import argparse
import pathlib


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="an experiment config file (configs/*.py)")
    p.add_argument("--workdir", required=True, type=pathlib.Path)


def run(args: argparse.Namespace) -> int:
    from personax.cli import UserError
    from personax.configfile import ConfigError, apply_override, load_config
    from personax.train.grpo_run import run_grpo

    try:
        cfg = load_config(args.config)
        for name, value in args.config_overrides:
            apply_override(cfg, name, value)
    except ConfigError as e:
        raise UserError(str(e)) from None
    last = run_grpo(cfg, args.workdir)
    print("grpo: " + " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in last.items()))
    return 0
