"""What projecting only the completion positions onto the vocabulary saves, side by side in one run:
an SFT step with `sft.loss_positions` 0 (every position) vs K, and the gradient of GRPO's completion
log-probs through every position's logits vs `personax.train.grpo.completion_logprobs`.

    .venv/bin/python bench/completion_projection.py [--seq-len 1024] [--completion 128] [--repeats 3]

SmolLM2-135M-Instruct (49K vocabulary, tied embeddings) + LoRA r 16, f32, one row, random tokens;
the last `--completion` tokens are the completion. Medians after a warm-up call. docs/benchmarks.md.
"""
from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import optax
from flax import nnx

import speed_common as common


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seq-len", type=int, default=1024)
    ap.add_argument("--completion", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    from personax.models.transformer import causal_mask, positions_from_valid
    from personax.train.grpo import completion_logprobs
    from personax.train.losses import token_logprobs
    from personax.train.sft import make_sft_step

    graphdef, trainable, rngs, frozen = common.smollm2_lora()
    T, C = a.seq_len, a.completion
    batch = common.sft_row(T, C)
    tokens_1xT, valid_1xT = batch["tokens"], jnp.ones((1, T), bool)
    tx = optax.sgd(0.0)  # the step's cost, not its effect
    rows = []
    for name, k in (("sft step, every position", 0), (f"sft step, loss_positions={C}", C)):
        step = jax.jit(make_sft_step(graphdef, tx, 1, k))
        opt = tx.init(trainable)
        rows.append((name, common.median_seconds(
            lambda: jax.block_until_ready(step(trainable, rngs, frozen, opt, batch)), a.repeats)))

    def every_position(m, tokens, valid, prompt_len, temperature):  # the projection of the whole row
        logits_NxLxV, _ = m(tokens, positions_from_valid(valid), causal_mask(valid))
        return token_logprobs(logits_NxLxV[:, prompt_len - 1:-1] / temperature, tokens[:, prompt_len:])

    for name, fn in (("grpo log-prob grad, every position", every_position),
                     ("grpo log-prob grad, completion only", completion_logprobs)):
        grad = jax.jit(jax.grad(lambda tr, fn=fn: fn(nnx.merge(graphdef, tr, rngs, frozen), tokens_1xT, valid_1xT,
                                                     T - C, 0.7).sum()))
        rows.append((name, common.median_seconds(lambda: jax.block_until_ready(grad(trainable)), a.repeats)))
    print(f"SmolLM2-135M + LoRA r16, 1 x {T} tokens, {C} completion tokens, {jax.device_count()} "
          f"{jax.devices()[0].platform} device(s)\n\n| call | s | vs every position |\n|---|---|---|")
    for i, (name, s) in enumerate(rows):
        print(f"| {name} | {s:.2f} | {s / rows[i - i % 2][1]:.2f} |")


if __name__ == "__main__":
    main()
