"""`personax datagen --config configs/datagen/X.py --workdir DIR [--config.field=value ...]`."""
from __future__ import annotations

import argparse
import asyncio
import json

from personax.configfile import ConfigError, apply_override, load_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="a configs/datagen/*.py file (path.py or path.py:arg)")
    parser.add_argument("--workdir", required=True, help="outputs go here; rerun the same command to resume")


def run(args: argparse.Namespace) -> int:
    from personax.cli import UserError
    from data_gen.backends import BackendError
    from data_gen.bank import BankError
    from data_gen.plan import PlanError
    from data_gen.runner import generate
    from data_gen.seeds import SeedError
    from data_gen.store import WorkdirBusy

    try:
        cfg = load_config(args.config)
        for name, value in args.config_overrides:
            apply_override(cfg, name, value)
        result = asyncio.run(generate(cfg, args.workdir))
    except (ConfigError, PlanError, SeedError, BankError, BackendError, WorkdirBusy) as e:
        raise UserError(str(e)) from None
    s, t = result.statistics, result.tokens["totals"]
    print(f"conversations: {result.done}/{result.planned} (failed {len(result.failed)}, "
          f"errors this run {s['errors_this_invocation']}) personas: {s['unique_personas']}")
    print(f"turns: {json.dumps(s['turns'])} noise share: {s['noise_share']} layers: {json.dumps(s['layer_shares'])}")
    print(f"tokens: {t['tokens']} cost: ${t['cost_usd']:.4f} calls: {t['calls']} cache hits: {t['cache_hits']} "
          f"retries: {t['retries']} failed requests: {t['failed_requests']}")
    print(f"outputs: {result.paths['released']} {result.paths['rich']} {result.paths['statistics']} {result.paths['tokens']}")
    return 0 if result.done >= result.planned else 1
