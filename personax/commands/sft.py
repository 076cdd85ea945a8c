"""`personax sft --config configs/X.py --workdir DIR`: the data and SFT stages of an experiment.
Rerun the same command to resume."""
from __future__ import annotations

from personax.commands import add_experiment_arguments, experiment_config, summary_line
from personax.train.stages import STAGES


def add_arguments(p) -> None:
    add_experiment_arguments(p)
    p.add_argument("--stage", default="sft", choices=[n for n, s in STAGES.items() if s.kind == "sft"],
                   help="which SFT stage (ablations: see personax/train/stages.py)")


def run(args) -> int:
    from personax.train.sft_run import run_sft

    print(summary_line(args.stage, run_sft(experiment_config(args), args.workdir, args.stage)))
    return 0
