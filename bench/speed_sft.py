"""One SFT optimizer step on fixed sequences, personax (jitted) and PyTorch (eager), full FT or LoRA.

Each builder returns a `Stepper`: `step()` runs one blocking optimizer step and returns its loss,
so the first call's loss doubles as a check that both frameworks see the same model and data.
"""
from __future__ import annotations

import dataclasses
import pathlib
from typing import Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import nnx

HF_LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
LR, BETAS, EPS, CLIP = 1e-5, (0.9, 0.95), 1e-8, 1.0


@dataclasses.dataclass
class Stepper:
    step: Callable[[], float]
    n_params: int  # every weight the forward pass uses (adapters included)
    n_trainable: int


def _count(state) -> int:
    return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(state))


def personax_sft(model: nnx.Module, tokens_BxT: np.ndarray, lora_rank: int, lora_alpha: float) -> Stepper:
    """`model` is consumed (adapters are added in place when `lora_rank` > 0)."""
    from personax.models.lora import LoRAConfig, apply_lora
    from personax.train.sft import make_sft_step, sft_optimizer
    from personax.train.step import split_for_training

    if lora_rank > 0:
        apply_lora(model, LoRAConfig(rank=lora_rank, alpha=lora_alpha), nnx.Rngs(0))
    graphdef, trainable, rngs, frozen = split_for_training(model)
    trainable = jax.tree.map(jnp.copy, trainable)  # the step donates it; the caller's model keeps its own
    opt_cfg = ml_collections.ConfigDict(dict(peak_lr=LR, end_lr=LR, warmup_steps=1, steps=1000,
                                             grad_clip=CLIP, b1=BETAS[0], b2=BETAS[1], eps=EPS))
    tx, _ = sft_optimizer(opt_cfg)
    B, T = tokens_BxT.shape
    batch = {"tokens": jnp.asarray(tokens_BxT), "positions": jnp.broadcast_to(jnp.arange(T, dtype=jnp.int32), (B, T)),
             "segment_ids": jnp.ones((B, T), jnp.int32), "loss_mask": jnp.ones((B, T), jnp.int32)}
    step_fn = jax.jit(make_sft_step(graphdef, tx, grad_accum=1), donate_argnums=(0, 3))
    state = {"trainable": trainable, "rngs": rngs, "opt": jax.jit(tx.init)(trainable)}

    def step() -> float:
        state["trainable"], state["rngs"], state["opt"], m = step_fn(
            state["trainable"], state["rngs"], frozen, state["opt"], batch)
        return float(m["loss"])  # float() blocks until the step is done

    return Stepper(step, _count(trainable) + _count(frozen.filter(nnx.Param)), _count(trainable))


def torch_sft(export_dir: pathlib.Path, tokens_BxT: np.ndarray, lora_rank: int, lora_alpha: float) -> Stepper:
    """transformers model from personax's HF export; peft LoRA on the same projections; AdamW with the
    same betas, eps, no weight decay and the same global-norm clip."""
    import torch
    import transformers

    model = transformers.AutoModelForCausalLM.from_pretrained(export_dir, dtype=torch.float32)
    if lora_rank > 0:
        import peft
        model = peft.get_peft_model(model, peft.LoraConfig(r=lora_rank, lora_alpha=lora_alpha, lora_dropout=0.0,
                                                           target_modules=HF_LORA_TARGETS))
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=LR, betas=BETAS, eps=EPS, weight_decay=0.0)
    ids = torch.as_tensor(tokens_BxT, dtype=torch.long)

    def step() -> float:
        loss = model(input_ids=ids, labels=ids).loss  # mean NLL of every shifted token, as personax's
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, CLIP)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.item()

    return Stepper(step, sum(p.numel() for p in model.parameters()), sum(p.numel() for p in params))
