"""The `personax` command: one subcommand per stage.

`--config.a.b=value` overrides are collected here for every stage (`args.config_overrides`).
Each subcommand lives in its own module and exposes `add_arguments(parser)` and
`run(args) -> int`; this file only maps names to modules, so adding a stage never
touches another stage's code.
"""
from __future__ import annotations

import argparse
import importlib
import sys

# name -> (module, one-line help). Modules are imported lazily so `personax --help`
# stays fast and a stage's heavy imports (jax, openai) load only when used.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "run": ("personax.commands.run", "an experiment end to end as its config says (resumable)"),
    "chat": ("personax.commands.chat", "generate a reply with a model (registered name or path)"),
    "nll": ("personax.commands.nll", "mean negative log-likelihood and perplexity of a text file"),
    "export": ("personax.commands.export", "export a model (LoRA merged) as an HF safetensors folder"),
    "sft": ("personax.commands.sft", "an experiment's data and SFT stages (resumable)"),
    "grpo": ("personax.commands.grpo", "an experiment's GRPO stage, from its SFT checkpoint (resumable)"),
    "eval": ("personax.commands.eval", "score every method on the held-out split and write WORKDIR/report (resumable)"),
    "prefeval": ("personax.eval.prefeval.command", "PrefEval: MCQ accuracy (and the four-check judge) of each eval method's prompts, report in WORKDIR/report/prefeval.md (resumable)"),
    "reward-model": ("personax.commands.reward_model", "train / evaluate the learned Bradley-Terry reward model"),
    "datagen": ("data_gen.cli", "PersonaGym: generate PersonaAtlas conversations from a config"),
    "data": ("personax.data.cli", "inspect PersonaAtlas / PPOpt data files"),
    "launch": ("launch.cli", "run a launch config: local, multi-GPU, TPU VM slice or GKE; retries, sweeps"),
}


class UserError(Exception):
    """An error caused by the user's input; printed without a traceback."""


def parse_with_overrides(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parses `argv`; `--config.a.b=value` overrides (ml_collections style) land in
    `args.config_overrides` as (name, value) pairs, anything else unknown is a usage error."""
    from personax.configfile import ConfigError, split_overrides

    args, extra = parser.parse_known_args(argv)
    try:
        args.config_overrides, rest = split_overrides(extra)
    except ConfigError as e:
        parser.error(str(e))
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    return args


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="personax", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    argv = sys.argv[1:] if argv is None else argv
    wanted = argv[0] if argv and argv[0] in SUBCOMMANDS else None
    modules = {}
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text)
        if name == wanted:
            modules[name] = importlib.import_module(module_name)
            modules[name].add_arguments(p)
    args = parse_with_overrides(parser, argv)
    try:
        return int(modules[args.command].run(args) or 0)
    except UserError as e:
        print(f"personax {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    # Run through the imported module, so stages raise and this catches the same UserError class.
    from personax.cli import main as _main
    sys.exit(_main())
