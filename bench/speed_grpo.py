"""One GRPO step split into rollout / reward / update: personax's pieces and TRL's `GRPOTrainer`.

Both: one prompt, G sampled completions of exactly N new tokens (T 0.7, top-p 0.9, no stop
tokens), the same trivial reward, group-normalised advantages, one optimizer update over the G
completions with the clipped loss and a k3 KL to the reference (adapters off under LoRA).
"rollout" is sampling; "reward" is decoding + reward + advantages; "update" is everything after
that (old and reference log-prob passes, forward/backward, optimizer), as in personax's GRPO loop.
"""
from __future__ import annotations

import dataclasses
import pathlib
import tempfile
import time
from typing import Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import nnx

from speed_common import length_reward
from speed_sft import HF_LORA_TARGETS

PHASES = ("rollout", "reward", "update")


@dataclasses.dataclass(frozen=True)
class GrpoShape:
    group_size: int
    new_tokens: int
    lora_rank: int
    lora_alpha: float
    beta: float = 0.1
    lr: float = 1e-5
    temperature: float = 0.7
    top_p: float = 0.9


def personax_grpo(model: nnx.Module, tok, prompt: str, s: GrpoShape) -> Callable[[int], dict[str, float]]:
    """-> step(i) running GRPO step i and returning its phase times. `model` is consumed."""
    from personax.models.lora import LoRAConfig, adapters_off, apply_lora
    from personax.rl.advantages import compute_advantages
    from personax.rl.loss import LossConfig
    from personax.sampler import SamplingParams, generate, left_pad
    from personax.train.grpo import make_grpo_update, make_logprob_fn
    from personax.train.grpo_run import grpo_optimizer
    from personax.train.step import split_for_training

    if s.lora_rank > 0:
        apply_lora(model, LoRAConfig(rank=s.lora_rank, alpha=s.lora_alpha), nnx.Rngs(0))
    graphdef, trainable, rngs, frozen = split_for_training(model)
    trainable = jax.tree.map(jnp.copy, trainable)  # the update donates it; the caller's model keeps its own
    frozen_ref = None if s.lora_rank > 0 else jax.tree.map(jnp.copy, trainable)
    reference = adapters_off if s.lora_rank > 0 else (lambda _: frozen_ref)
    tx = grpo_optimizer(ml_collections.ConfigDict(dict(lr=s.lr, grad_clip=1.0, b1=0.9, b2=0.99, eps=1e-8)))
    prompt_1xP, valid_1xP = left_pad([tok.encode_chat([{"role": "user", "content": prompt}])], tok.pad_id or 0)
    P, G, M = prompt_1xP.shape[1], s.group_size, s.new_tokens
    sampling = SamplingParams(max_new_tokens=M, temperature=s.temperature, top_p=s.top_p, num_samples=G)
    logp_fn = jax.jit(make_logprob_fn(graphdef, P, s.temperature))
    update_fn = jax.jit(make_grpo_update(graphdef, tx, LossConfig(beta=s.beta), P, s.temperature),
                        donate_argnums=(0, 3))
    state = {"trainable": trainable, "rngs": rngs, "opt": jax.jit(tx.init)(trainable)}
    tokens_NxL_prompt = np.repeat(prompt_1xP, G, 0)
    valid_NxL = np.concatenate([np.repeat(valid_1xP, G, 0), np.ones((G, M), bool)], 1)

    def step(i: int) -> dict[str, float]:
        t0 = time.perf_counter()
        whole_graphdef, whole = nnx.split(nnx.merge(graphdef, state["trainable"], state["rngs"], frozen))
        out = generate(whole_graphdef, whole, prompt_1xP, valid_1xP, jax.random.key(i), sampling)
        tokens_NxM = np.asarray(out.tokens_NxM)
        t1 = time.perf_counter()
        texts = [tok.decode(row.tolist(), skip_special_tokens=True) for row in tokens_NxM]
        adv_N, _ = compute_advantages(jnp.asarray(length_reward(texts)), G)
        adv_N = np.asarray(adv_N)
        t2 = time.perf_counter()
        tokens_NxL = np.concatenate([tokens_NxL_prompt, tokens_NxM], 1)
        args = (state["rngs"], frozen, tokens_NxL, valid_NxL)
        mb = {"tokens": tokens_NxL, "valid": valid_NxL, "advantages": adv_N, "mask": np.ones((G, M), np.float32),
              "old_logp": logp_fn(state["trainable"], *args)}
        if s.beta > 0:
            mb["ref_logp"] = logp_fn(reference(state["trainable"]), *args)
        mb = jax.tree.map(lambda x: jnp.asarray(x)[None], mb)  # one mini-batch of one micro-batch
        state["trainable"], state["rngs"], state["opt"], m = update_fn(
            state["trainable"], state["rngs"], frozen, state["opt"], mb)
        float(m["loss"])  # blocks until the update is done
        return {"rollout": t1 - t0, "reward": t2 - t1, "update": time.perf_counter() - t2}

    return step


def trl_grpo(export_dir: pathlib.Path, prompt: str, s: GrpoShape, steps: int) -> list[dict[str, float]]:
    """Runs `steps` GRPOTrainer steps on CPU; returns each step's phase times. Phases are read by
    wrapping the trainer's own `_generate` and `_calculate_rewards` and timing the whole step
    (on_step_begin .. on_step_end: forward/backward and the optimizer step included)."""
    import datasets
    import torch
    import transformers
    import trl

    model = transformers.AutoModelForCausalLM.from_pretrained(export_dir, dtype=torch.float32)
    tokenizer = transformers.AutoTokenizer.from_pretrained(export_dir, padding_side="left")
    peft_config = None
    if s.lora_rank > 0:
        import peft
        peft_config = peft.LoraConfig(r=s.lora_rank, lora_alpha=s.lora_alpha, lora_dropout=0.0,
                                      target_modules=HF_LORA_TARGETS)

    def reward(completions, **_):
        return length_reward([c[0]["content"] if isinstance(c, list) else c for c in completions])

    args = trl.GRPOConfig(
        output_dir=tempfile.mkdtemp(prefix="personax-trl-"), per_device_train_batch_size=s.group_size,
        num_generations=s.group_size, max_completion_length=s.new_tokens,
        generation_kwargs={"min_new_tokens": s.new_tokens}, temperature=s.temperature, top_p=s.top_p,
        beta=s.beta, loss_type="grpo", learning_rate=s.lr, lr_scheduler_type="constant", max_steps=steps,
        use_cpu=True, bf16=False, gradient_checkpointing=False, report_to=[], logging_steps=1,
        save_strategy="no", disable_tqdm=True, seed=0, dataloader_num_workers=0)
    data = datasets.Dataset.from_list([{"prompt": [{"role": "user", "content": prompt}]}] * steps)
    trainer = trl.GRPOTrainer(model=model, reward_funcs=reward, args=args, train_dataset=data,
                              processing_class=tokenizer, peft_config=peft_config)
    times: list[dict[str, float]] = []
    current: dict[str, float] = {}

    def timed(name: str, fn):
        def wrapper(*a, **kw):
            t0 = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                current[name] = current.get(name, 0.0) + time.perf_counter() - t0
        return wrapper

    trainer._generate = timed("rollout", trainer._generate)
    trainer._calculate_rewards = timed("reward", trainer._calculate_rewards)

    class StepTimer(transformers.TrainerCallback):
        def on_step_begin(self, *_, **__):
            current.clear()
            current["t0"] = time.perf_counter()

        def on_step_end(self, *_, **__):
            total = time.perf_counter() - current.pop("t0")
            times.append({"rollout": current["rollout"], "reward": current["reward"],
                          "update": total - current["rollout"] - current["reward"]})

    trainer.add_callback(StepTimer())
    trainer.remove_callback(transformers.PrinterCallback)  # its per-step metric dicts would clutter the table
    trainer.train()
    if len(times) != steps:
        raise RuntimeError(f"GRPOTrainer ran {len(times)} timed steps, expected {steps}")
    return times
