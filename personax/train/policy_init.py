"""Where the GRPO policy starts: the SFT result, with a fresh adapter on top of it.

With LoRA, the SFT adapter is merged into the base and GRPO trains a new adapter, so the KL
reference (the SFT policy) is the same weights with adapters off. With full fine-tuning the
reference is a frozen copy of the SFT weights.
"""
from __future__ import annotations

import pathlib

import jax
import jax.numpy as jnp
import ml_collections
from flax import nnx

from personax.models.lora import merge_lora
from personax.train.checkpoint import Checkpointer, abstract_like
from personax.train.policy import add_adapters
from personax.train.step import split_for_training


def load_stage_into(model: nnx.Module, cfg: ml_collections.ConfigDict, ckpt_dir: pathlib.Path,
                    adapter_seed: int) -> bool:
    """Applies a stage's last checkpoint to `model` (adapters merged); False when there is none."""
    lora = add_adapters(model, cfg.lora, adapter_seed)
    ckpt = Checkpointer(str(ckpt_dir), max_to_keep=None)
    if ckpt.latest_step() is None:
        if lora:
            merge_lora(model)  # untrained adapters are zero: merging leaves the base as it was
        return False
    _, trainable, rngs, _ = split_for_training(model)
    restored = ckpt.restore(params=abstract_like({"trainable": trainable, "rngs": rngs}))
    nnx.update(model, restored["params"]["trainable"])
    if lora:
        merge_lora(model)
    return True


def sft_adapter_seed(cfg) -> int:
    return cfg.seed


def grpo_adapter_seed(cfg) -> int:
    return cfg.seed + 100


STAGES = ("zero_shot", "sft", "grpo")


def load_policy(cfg: ml_collections.ConfigDict, workdir: pathlib.Path, stage: str):
    """(model, tokenizer) of the policy after `stage` ("zero_shot": the base as loaded; "sft";
    "grpo": SFT merged, then the GRPO adapter merged). Raises when the stage has no checkpoint."""
    from personax.train.policy import load_base
    from personax.train.sft_run import sft_texts

    if stage not in STAGES:
        raise ValueError(f"policy stage must be one of {STAGES}, got {stage!r}")
    model, tok = load_base(cfg.model, cfg.seed, workdir, texts=sft_texts(workdir / "data" / "ppopt" / "sft.jsonl"))
    for name, seed in (("sft", sft_adapter_seed(cfg)), ("grpo", grpo_adapter_seed(cfg)))[:STAGES.index(stage)]:
        if not load_stage_into(model, cfg, workdir / name / "checkpoints", seed) and name == stage:
            raise FileNotFoundError(f"no {name} checkpoint in {workdir / name / 'checkpoints'}; run that stage first")
    return model, tok


def grpo_policy(model: nnx.Module, cfg: ml_collections.ConfigDict, workdir: pathlib.Path):
    """-> (graphdef, trainable, rngs, frozen, lora, started_from_sft): the SFT result with a fresh
    adapter (lora=True) or all parameters trainable (lora=False)."""
    started_from_sft = load_stage_into(model, cfg, workdir / "sft" / "checkpoints", sft_adapter_seed(cfg))
    lora = add_adapters(model, cfg.lora, grpo_adapter_seed(cfg))
    graphdef, trainable, rngs, frozen = split_for_training(model)
    return graphdef, trainable, rngs, frozen, lora, started_from_sft


def reference_fn(trainable, lora: bool):
    """`reference(trainable)` -> the trainable state of the KL reference (the SFT policy): adapters
    off, or a frozen copy of the starting weights (take it after sharding: it keeps the shardings)."""
    from personax.models.lora import adapters_off

    if lora:
        return adapters_off
    frozen_copy = jax.tree.map(jnp.copy, trainable)
    return lambda _: frozen_copy
