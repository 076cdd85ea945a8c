"""One host's process of a run: `python -m launch.worker --config X.py --workdir DIR [--config.a.b=v ...]`.

Joins the other hosts (`personax.sharding.initialize_distributed`: PERSONAX_* variables or the
platform's auto-detection), lets process 0 write the files every host then reads (data splits, a
from-scratch tokenizer), and runs the experiment's training stages as `personax run` does. Every
stage resumes from its checkpoints in the shared workdir. The eval stage is single-host: with several
processes it is skipped here (run `personax eval` afterwards on one host).
"""
from __future__ import annotations

import argparse
import pathlib
import sys


def _latest_checkpoint(workdir: pathlib.Path, stage: str) -> int | None:
    ckpts = workdir / stage / "checkpoints"
    steps = [int(p.name) for p in ckpts.iterdir() if p.name.isdigit()] if ckpts.is_dir() else []
    return max(steps, default=None)


def _prepare_shared_files(cfg, workdir: pathlib.Path) -> None:
    from personax.sharding import primary_first
    from personax.train.data_stage import run_data

    paths = primary_first(lambda: run_data(cfg, workdir), "data")
    if cfg.model.init == "scratch":
        from personax.train.policy import load_base
        from personax.train.sft_run import sft_texts
        primary_first(lambda: load_base(cfg.model, cfg.seed, workdir, texts=sft_texts(paths["sft"])), "tokenizer")


def main(argv: list[str] | None = None) -> int:
    from personax.cli import UserError
    from personax.commands import add_experiment_arguments, experiment_config
    from personax.configfile import split_overrides

    parser = argparse.ArgumentParser(prog="python -m launch.worker", description=__doc__.splitlines()[0])
    add_experiment_arguments(parser)
    args, extra = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    args.config_overrides, rest = split_overrides(extra)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")

    import jax
    from personax.sharding import initialize_distributed

    initialize_distributed()
    me, hosts = jax.process_index(), jax.process_count()
    print(f"worker: process {me} of {hosts}, {len(jax.local_devices())} local / {len(jax.devices())} devices",
          flush=True)
    try:
        cfg = experiment_config(args)
        stages = tuple(s for s in cfg.stages if not (hosts > 1 and s == "eval"))
        if stages != tuple(cfg.stages):
            print("worker: eval is single-host; skipped here (run `personax eval` on one host)", flush=True)
        args.config_overrides.append(("stages", ",".join(stages)))
        _prepare_shared_files(cfg, args.workdir)
        for stage in stages:
            step = _latest_checkpoint(args.workdir, stage)
            if step is not None:
                print(f"worker: {stage} resumes from checkpoint step {step}", flush=True)
        from personax.commands.run import run
        return run(args)
    except UserError as e:
        print(f"worker: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
