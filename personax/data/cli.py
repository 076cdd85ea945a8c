"""`personax data inspect PATH`: read any supported file, print statistics and an error count."""
from __future__ import annotations

import argparse

from personax.cli import UserError
from personax.data.fields import RecordError
from personax.data.importers import KINDS, load
from personax.data.stats import SUMMARIZERS, record_count

MAX_SHOWN_ERRORS = 20


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="data_command", required=True)
    inspect = sub.add_parser("inspect", help="statistics and validation of a data file")
    inspect.add_argument("path", help="PersonaAtlas JSONL (released or rich) or the authors' "
                         "SFT / RL / statistics / token files")
    inspect.add_argument("--kind", choices=sorted(KINDS), help="skip detection")


def run(args: argparse.Namespace) -> int:
    try:
        loaded = load(args.path, kind=args.kind, skip_bad=True)
    except FileNotFoundError:
        raise UserError(f"{args.path}: no such file") from None
    except (IsADirectoryError, PermissionError) as e:
        raise UserError(f"{args.path}: cannot read ({e.strerror})") from None
    except RecordError as e:
        raise UserError(str(e)) from None
    summary = SUMMARIZERS[loaded.kind](loaded)
    problems = [str(e) for e in loaded.errors] + summary.problems
    print(f"file: {loaded.path}\nkind: {loaded.kind}")
    for line in summary.lines:
        print(line)
    for p in problems[:MAX_SHOWN_ERRORS]:
        print(f"error: {p}")
    if len(problems) > MAX_SHOWN_ERRORS:
        print(f"... {len(problems) - MAX_SHOWN_ERRORS} more errors")
    print(f"records={record_count(loaded)} personas={summary.personas} errors={len(problems)}")
    return 1 if problems else 0
