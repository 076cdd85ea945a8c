"""`personax sft --config configs/X.py --workdir DIR`: the data and SFT stages of an experiment.
Rerun the same command to resume."""
from __future__ import annotations

from personax.commands import add_experiment_arguments as add_arguments  # noqa: F401
from personax.commands import experiment_config, summary_line


def run(args) -> int:
    from personax.train.sft_run import run_sft

    print(summary_line("sft", run_sft(experiment_config(args), args.workdir)))
    return 0
