"""The `reward_model` section of an experiment config (the trunk comes from its `model` and `lora`)."""
from __future__ import annotations

import ml_collections


def get_reward_model_config() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(dict(
        pairs="",  # JSONL of {context, chosen, rejected}; "" builds pairs in the sim world from `pair_splits`
        pair_splits=("sft",),  # the experiment's PPOpt splits to build sim pairs from (never its eval split)
        sim=ml_collections.ConfigDict(dict(samples=2, min_gap=0.1, cue_reliability=0.5)),
        eval_fraction=0.2,  # held-out share of contexts
        max_len=1024,  # tokens per (context, response); the context is cut from the left
        batch_size=8,  # pairs per step
        steps=200,
        peak_lr=1e-4, end_lr=1e-5, warmup_steps=10, b1=0.9, b2=0.95, eps=1e-8, grad_clip=1.0,
        center_coef=0.01,  # coef·mean(r²): keeps raw rewards near 0, where the reward's sigmoid is informative
        log_every=1, eval_every=50, checkpoint_every=50, keep_checkpoints=2,
    ))
