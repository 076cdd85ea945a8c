"""`personax run --config configs/X.py --workdir DIR`: the stages the config names, in order
(data -> sft -> grpo -> the ablation stages -> eval). Each stage resumes from its own checkpoints, so rerunning the same
command continues where it stopped; finished stages return at once."""
from __future__ import annotations

import argparse

from personax.commands import add_experiment_arguments as add_arguments  # noqa: F401
from personax.commands import experiment_config
from personax.train.stages import STAGES

TRAINING = tuple(STAGES)
STAGE_ORDER = ("data", *TRAINING, "eval")


def _stage_fn(name: str):
    if name == "data":
        from personax.train.data_stage import run_data
        return run_data
    if name == "eval":
        from personax.eval.run import run_eval
        return run_eval
    from personax.train.stages import get_stage
    if get_stage(name).kind == "sft":
        from personax.train.sft_run import run_sft
        return lambda cfg, workdir: run_sft(cfg, workdir, name)
    from personax.train.grpo_run import run_grpo
    return lambda cfg, workdir: run_grpo(cfg, workdir, name)


def run(args: argparse.Namespace) -> int:
    from personax.cli import UserError

    cfg = experiment_config(args)
    unknown = [s for s in cfg.stages if s not in STAGE_ORDER]
    if unknown:
        raise UserError(f"config.stages has unknown stage(s) {unknown}; known: {list(STAGE_ORDER)}")
    for name in sorted(cfg.stages, key=STAGE_ORDER.index):
        print(f"== {name}", flush=True)
        result = _stage_fn(name)(cfg, args.workdir)
        if isinstance(result, dict) and name in TRAINING:
            keys = [k for k in ("loss", "reward/total/mean", "kl_mean") if k in result]
            print(f"{name}: " + " ".join(f"{k}={result[k]:.4g}" for k in keys), flush=True)
        if name == "eval":
            print(f"eval: report in {args.workdir / 'report' / 'report.md'}", flush=True)
    return 0
