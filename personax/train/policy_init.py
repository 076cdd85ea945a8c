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

from personax.models.lora import adapter_delta_norm, adapters_off, merge_lora
from personax.train.checkpoint import Checkpointer, abstract_like
from personax.train.policy import add_adapters
from personax.train.stages import lineage
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


def adapter_seed(cfg, kind: str) -> int:
    """The seed of a stage's fresh adapter: SFT and GRPO draw different ones."""
    return cfg.seed + (100 if kind == "grpo" else 0)


def load_policy(cfg: ml_collections.ConfigDict, workdir: pathlib.Path, stage: str):
    """(model, tokenizer) of the policy after `stage`: "zero_shot" (the base as loaded) or a training
    stage of `personax.train.stages.STAGES`, whose lineage's checkpoints are merged in order
    (e.g. "grpo": SFT merged, then the GRPO adapter merged). Raises when a checkpoint is missing."""
    from personax.train.policy import load_base
    from personax.train.sft_run import sft_texts

    chain = [] if stage == "zero_shot" else lineage(stage)
    model, tok = load_base(cfg.model, cfg.seed, workdir, texts=sft_texts(workdir / "data" / "ppopt" / "sft.jsonl"))
    for s in chain:
        if not load_stage_into(model, cfg, workdir / s.name / "checkpoints", adapter_seed(cfg, s.kind)):
            raise FileNotFoundError(f"no {s.name} checkpoint in {workdir / s.name / 'checkpoints'}; "
                                    f"run that stage first")
    return model, tok


def grpo_policy(model: nnx.Module, cfg: ml_collections.ConfigDict, workdir: pathlib.Path, stage: str = "grpo"):
    """-> (graphdef, trainable, rngs, frozen, lora, started_from_init): the policy `stage` starts from
    (its init stage's, i.e. SFT's, result) with a fresh adapter (lora=True) or all parameters
    trainable (lora=False). A missing init checkpoint leaves the base (started_from_init False)."""
    started = True
    for s in lineage(stage)[:-1]:
        started = load_stage_into(model, cfg, workdir / s.name / "checkpoints", adapter_seed(cfg, s.kind)) and started
    lora = add_adapters(model, cfg.lora, adapter_seed(cfg, "grpo"))
    graphdef, trainable, rngs, frozen = split_for_training(model)
    return graphdef, trainable, rngs, frozen, lora, started


def reference_fn(trainable, lora: bool):
    """`reference(trainable)` -> the trainable state of the KL reference (the SFT policy): adapters
    off, or a frozen copy of the starting weights (take it after sharding: it keeps the shardings)."""
    if lora:
        return adapters_off
    frozen_copy = jax.tree.map(jnp.copy, trainable)
    return lambda _: frozen_copy


def weight_drift(trainable, start, lora: bool, scale: float) -> jax.Array:
    """‖W − W_SFT‖_F over the trained weights, the distance GRPO has moved the policy from its
    reference: the fresh adapters' ‖scale · A B‖ (`start` unused), or the distance from `start`,
    the frozen copy (full fine-tuning). Logged each step as `weight_drift`."""
    if lora:
        return adapter_delta_norm(trainable, scale)
    return jnp.sqrt(sum(jnp.sum((a.astype(jnp.float32) - b.astype(jnp.float32)) ** 2)
                        for a, b in zip(jax.tree.leaves(trainable), jax.tree.leaves(start))))
