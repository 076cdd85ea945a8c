"""`personax grpo --config configs/X.py --workdir DIR`: the GRPO stage (after data and SFT).
Rerun the same command to resume."""
from __future__ import annotations

from personax.commands import add_experiment_arguments as add_arguments  # noqa: F401
from personax.commands import experiment_config, summary_line


def run(args) -> int:
    from personax.train.grpo_run import run_grpo

    print(summary_line("grpo", run_grpo(experiment_config(args), args.workdir)))
    return 0
