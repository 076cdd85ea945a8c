"""`python -m launch --config configs/launch/X.py [--dry-run] [--config.a.b=value ...]` (also
`personax launch`): runs the launch config's backend, or its sweep when `sweep.grid` is set."""
from __future__ import annotations

import argparse
import sys

BACKEND_MODULES = ("launch.local", "launch.gpu", "launch.tpu", "launch.gke")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="a launch config file (configs/launch/*.py, or FILE.py:variant)")
    p.add_argument("--dry-run", action="store_true", help="print every command and manifest instead of running it")


def run(args: argparse.Namespace, backend: str | None = None) -> int:
    import importlib

    from launch.registry import LAUNCHERS
    from launch.shell import Shell
    from launch.sweep import run_sweep
    from personax.cli import UserError
    from personax.commands import experiment_config

    for module in BACKEND_MODULES:
        importlib.import_module(module)
    lc = experiment_config(args)  # a launch config, loaded like any config file with its overrides
    if backend is not None:
        lc.backend = backend
    try:
        launcher = LAUNCHERS.get(lc.backend)
        shell = Shell(dry_run=args.dry_run)
        if lc.sweep.grid:
            return run_sweep(lc, lambda point: launcher(point, shell), shell)
        return launcher(lc, shell)
    except (KeyError, ValueError) as e:
        raise UserError(str(e).strip("'\"")) from None


def main(argv: list[str] | None = None, backend: str | None = None) -> int:
    from personax.cli import UserError, parse_with_overrides

    parser = argparse.ArgumentParser(prog="python -m launch", description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parse_with_overrides(parser, sys.argv[1:] if argv is None else argv)
    try:
        return run(args, backend)
    except UserError as e:
        print(f"launch: error: {e}", file=sys.stderr)
        return 2
