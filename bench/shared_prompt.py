"""What running each prompt once for its G completions saves in the GRPO update, side by side in
one run: `grpo.batch.share_prompt` False (every row is prompt + completion) vs True (one prompt
pass a group, its keys/values repeated G times; `personax.train.grpo`).

    .venv/bin/python bench/shared_prompt.py [--prompt-len 800] [--new-tokens 208] [--group 4] [--repeats 3]

SmolLM2-135M-Instruct + LoRA r 16, f32, one on-policy update over one group (one micro-batch of G
rows: the smollm2_cpu:long shape), random tokens, alternating calls, medians after a warm-up call.
Also prints the largest difference between the two variants' updated adapters. docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import statistics

import jax
import jax.numpy as jnp
import numpy as np
import optax

import speed_common as common


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompt-len", type=int, default=800)
    ap.add_argument("--new-tokens", type=int, default=208)
    ap.add_argument("--group", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    from personax.rl.loss import LossConfig
    from personax.train.grpo import make_grpo_update

    graphdef, trainable, rngs, frozen = common.smollm2_lora()
    trainable = jax.tree.map(lambda x: x + 0.01, trainable)  # B ≠ 0: the adapters carry gradient both ways
    P, M, G = a.prompt_len, a.new_tokens, a.group
    rng = np.random.default_rng(0)
    prompt_1xP = rng.integers(1, 40000, (1, P))
    tokens_NxL = np.concatenate([np.repeat(prompt_1xP, G, 0), rng.integers(1, 40000, (G, M))], 1)
    valid_NxL = np.ones((G, P + M), bool)
    valid_NxL[:, : P // 10] = False  # left padding, as in a batch of prompts of different lengths
    mb = {"tokens": tokens_NxL, "valid": valid_NxL, "sampler_logp": np.zeros((G, M), np.float32),
          "advantages": np.linspace(-1, 1, G).astype(np.float32), "mask": np.ones((G, M), np.float32)}
    mb = jax.tree.map(lambda x: jnp.asarray(x)[None], mb)
    tx = optax.sgd(1e-3)
    opt = tx.init(trainable)
    variants = {share: jax.jit(make_grpo_update(graphdef, tx, LossConfig(beta=0.0), P, 0.7, on_policy=True,
                                                group_size=G if share else 1))
                for share in (False, True)}
    results = {share: fn(trainable, rngs, frozen, opt, mb)[0] for share, fn in variants.items()}  # warm-up
    diff = max(float(jnp.max(jnp.abs(x - y))) for x, y in
               zip(jax.tree.leaves(results[False]), jax.tree.leaves(results[True])))
    times = {False: [], True: []}
    for _ in range(a.repeats):
        for share, fn in variants.items():
            times[share] += common.call_seconds(
                lambda fn=fn: jax.block_until_ready(fn(trainable, rngs, frozen, opt, mb)), 1, warmup=0)
    base = statistics.median(times[False])
    print(f"SmolLM2-135M + LoRA r16, one group of G={G}: {P}-token prompt ({P - P // 10} real) + {M} new tokens, "
          f"{jax.device_count()} {jax.devices()[0].platform} device(s); max |Δ adapter| {diff:.1e}\n\n"
          "| GRPO update | s | vs per row |\n|---|---|---|")
    for share, label in ((False, "per row (`share_prompt=False`)"), (True, "one prompt pass a group (`share_prompt=True`)")):
        s = statistics.median(times[share])
        print(f"| {label} | {s:.2f} | {s / base:.2f} |")


if __name__ == "__main__":
    main()
