"""`personax data inspect PATH`: read any supported file, print statistics and an error count.
`personax data build INPUT... --out DIR`: PPOpt example splits (JSONL, ArrayRecord, TFDS)."""
from __future__ import annotations

import argparse

from personax.cli import UserError
from personax.data.build import build_dataset, parse_sizes
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
    build = sub.add_parser("build", help="PPOpt example splits from PersonaAtlas files")
    build.add_argument("inputs", nargs="+", help="conversation files (released or rich), or the "
                       "authors' SFT/RL files / exported examples")
    build.add_argument("--out", required=True, help="output folder: <split>.jsonl per split")
    build.add_argument("--splits", default="sft=0.45,rl=0.45,eval=0.1",
                       help="name=count or name=fraction, comma-separated, filled in order")
    build.add_argument("--seed", type=int, default=0)
    build.add_argument("--max-history", type=int, default=4)
    build.add_argument("--states-per-persona", type=int, default=1,
                       help="SFT/RL states per persona (each conversation a target once); "
                            "the other splits keep --heldout-states-per-persona")
    build.add_argument("--heldout-states-per-persona", type=int, default=1,
                       help="states per persona in the splits other than sft and rl (held-out)")
    build.add_argument("--teacher", choices=sorted(TEACHERS), default="none",
                       help="privileged teacher for SFT labels")
    build.add_argument("--teacher-best-of", type=int, default=1,
                       help="sim teacher: draw K labels a state, keep the one its rewrite scores best")
    build.add_argument("--teacher-reads-query", action="store_true",
                       help="sim teacher: read the current query's own cues too, not the history only")
    build.add_argument("--label-splits", default="sft", help="comma-separated splits to label")
    build.add_argument("--teacher-model", default="gpt-4o-mini")
    build.add_argument("--teacher-base-url", default="https://api.openai.com/v1")
    build.add_argument("--teacher-key-env", default="OPENAI_API_KEY",
                       help="environment variable with the API key ('' for keyless servers)")
    build.add_argument("--concurrency", type=int, default=8)
    build.add_argument("--skip-bad", action="store_true", help="skip and count malformed records")
    build.add_argument("--arrayrecord-shards", type=int, default=0)
    build.add_argument("--tfds", action="store_true", help="also write a TFDS dataset (ppopt)")


def _sim_teacher(args: argparse.Namespace):
    from personax.llm.sim.teacher import SimTeacher
    return SimTeacher(seed=args.seed, best_of=args.teacher_best_of, reads_query=args.teacher_reads_query)


def _hosted_teacher(args: argparse.Namespace):
    from personax.data.teacher import LLMTeacher
    from personax.llm.config import make_chat_client, role_config
    cfg = role_config(base_url=args.teacher_base_url, models=((args.teacher_model, 1.0),),
                      api_key_env=args.teacher_key_env, concurrency=args.concurrency)
    return LLMTeacher(make_chat_client(cfg), args.teacher_model)


TEACHERS = {"none": lambda args: None, "sim": _sim_teacher, "hosted": _hosted_teacher}


def run(args: argparse.Namespace) -> int:
    return {"inspect": run_inspect, "build": run_build}[args.data_command](args)


def run_build(args: argparse.Namespace) -> int:
    try:
        sizes = parse_sizes(args.splits)
        label_splits = [s for s in args.label_splits.split(",") if s]
        unknown = [s for s in label_splits if s not in sizes]
        if args.teacher_best_of != 1 and args.teacher != "sim":
            raise UserError(f"--teacher-best-of {args.teacher_best_of} needs --teacher sim")
        if args.teacher_reads_query and args.teacher != "sim":
            raise UserError("--teacher-reads-query needs --teacher sim")
        if args.teacher != "none" and unknown:
            raise UserError(f"--label-splits names {unknown}, not among the splits {list(sizes)}")
        report = build_dataset(args.inputs, args.out, sizes, args.seed,
                               TEACHERS[args.teacher](args), label_splits, args.max_history,
                               args.skip_bad, args.arrayrecord_shards, args.tfds, args.concurrency,
                               args.states_per_persona, args.heldout_states_per_persona)
    except FileNotFoundError as e:
        raise UserError(f"{e.filename}: no such file") from None
    except (RecordError, ValueError, RuntimeError) as e:
        raise UserError(str(e)) from None
    for name, n in report.counts.items():
        print(f"{name}: {n} examples, {report.labelled[name]} labelled")
    for path in report.files:
        print(f"wrote {path}")
    print(f"examples={sum(report.counts.values())} personas={report.personas} "
          f"skipped_no_history={report.skipped_no_history} errors={report.bad_records}")
    return 0


def run_inspect(args: argparse.Namespace) -> int:
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
