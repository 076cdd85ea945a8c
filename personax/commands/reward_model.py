"""`personax reward-model train --config configs/X.py --workdir DIR`: train the learned
Bradley–Terry reward model of an experiment (its `model`/`lora` trunk, its `reward_model` section;
defaults are filled in when the config has none). Rerun the same command to resume.
`personax reward-model pairs --config ... --workdir DIR --out pairs.jsonl`: write the sim-world
preference pairs it would train on (or check a user pairs file given by `reward_model.pairs`).
`personax reward-model eval --config ... --workdir DIR [--split rl | --pairs FILE]`: the trained
model's pair accuracy on sim pairs built from another data split (default rl), or on a pairs file."""
from __future__ import annotations

import argparse
import json
import pathlib


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=("train", "pairs", "eval"))
    p.add_argument("--config", required=True, help="an experiment config file (configs/*.py)")
    p.add_argument("--workdir", required=True, type=pathlib.Path)
    p.add_argument("--out", type=pathlib.Path, help="pairs: where to write the JSONL")
    p.add_argument("--split", default="rl", help="eval: the data split to build sim pairs from")
    p.add_argument("--pairs", type=pathlib.Path, help="eval: a pairs JSONL instead of sim pairs")


def _config(args: argparse.Namespace):
    from personax.commands import experiment_config
    return experiment_config(args)


def run(args: argparse.Namespace) -> int:
    from personax.cli import UserError
    cfg = _config(args)
    if args.action == "pairs" and args.out is None:
        raise UserError("reward-model pairs needs --out FILE")
    try:
        if args.action == "pairs":
            from personax.train.reward_model.data import load_pairs
            from personax.train.reward_model.pairs import write_pairs
            print(f"reward-model: wrote {write_pairs(args.out, load_pairs(cfg, args.workdir))} pairs to {args.out}")
            return 0
        if args.action == "eval":
            print(json.dumps(_evaluate(cfg, args), indent=1))
            return 0
        from personax.train.reward_model.trainer import run_reward_model
        last = run_reward_model(cfg, args.workdir)
    except (ValueError, FileNotFoundError) as e:  # bad pairs (RecordError), config values, missing files
        raise UserError(str(e)) from None
    print("reward-model: " + " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in last.items()))
    print(f"reward-model: set rewards.learned_rm.checkpoint={args.workdir / 'reward_model'}")
    return 0


def _evaluate(cfg, args: argparse.Namespace) -> dict[str, float]:
    from personax.train.reward_model.evaluate import pair_accuracy
    from personax.train.reward_model.pairs import read_pairs
    from personax.train.reward_model.scorer import RewardScorer
    if args.pairs is not None:
        pairs = read_pairs(args.pairs)
    else:
        from personax.train.data_stage import split_paths
        from personax.train.reward_model.sim_pairs import build_sim_pairs
        from personax.train.sft_run import read_examples
        path = split_paths(args.workdir, cfg.data).get(args.split)
        if path is None or not path.exists():
            raise FileNotFoundError(f"no data split {args.split!r} under {args.workdir}/data/ppopt "
                                    f"(run the data stage first)")
        pairs, _ = build_sim_pairs(read_examples(path), seed=cfg.seed, **cfg.reward_model.sim.to_dict())
    return pair_accuracy(RewardScorer.load(args.workdir / "reward_model"), pairs)
