"""`personax grpo --config configs/X.py --workdir DIR`: the GRPO stage (after data and SFT).
Rerun the same command to resume."""
from __future__ import annotations

from personax.commands import add_experiment_arguments, experiment_config, summary_line
from personax.train.stages import STAGES


def add_arguments(p) -> None:
    add_experiment_arguments(p)
    p.add_argument("--stage", default="grpo", choices=[n for n, s in STAGES.items() if s.kind == "grpo"],
                   help="which GRPO stage (ablations: see personax/train/stages.py)")


def run(args) -> int:
    from personax.train.grpo_run import run_grpo

    print(summary_line(args.stage, run_grpo(experiment_config(args), args.workdir, args.stage)))
    return 0
