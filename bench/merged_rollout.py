"""What folding the LoRA adapters into the base kernels saves when sampling GRPO rollouts, side by
side in one run: `personax.sampler.generate` on the policy with live adapters vs on a merged copy
(`personax.models.lora.merge_lora`, the merge itself timed too).

    .venv/bin/python bench/merged_rollout.py [--prompts 4] [--group 4] [--prompt-len 800] [--new-tokens 64] [--repeats 2]

SmolLM2-135M-Instruct + LoRA r 16 on every projection (B nonzero), f32, random prompt tokens, exactly
`--new-tokens` sampled (no stop token), alternating calls, medians after a warm-up call. Also prints
how many sampled tokens the two variants agree on. docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import statistics

import jax
import numpy as np
from flax import nnx

import speed_common as common


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, default=4)
    ap.add_argument("--group", type=int, default=4)
    ap.add_argument("--prompt-len", type=int, default=800)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=2)
    a = ap.parse_args()
    from personax.models.hub import load
    from personax.models.lora import LoRAConfig, apply_lora
    from personax.sampler import SamplingParams, generate
    from personax.train.grpo_run import merged_for_sampling
    from personax.train.step import split_for_training

    model, _, _ = load("smollm2-135m-instruct", param_dtype="float32", dtype="float32")
    apply_lora(model, LoRAConfig(rank=16, alpha=32.0), nnx.Rngs(0))
    graphdef, trainable, rngs, frozen = split_for_training(model)
    trainable = jax.tree.map(lambda x: x + 0.01, trainable)  # B ≠ 0: the adapters change the function
    prompts_BxP = np.random.default_rng(0).integers(1, 40000, (a.prompts, a.prompt_len)).astype(np.int32)
    valid_BxP = np.ones_like(prompts_BxP, bool)
    params = SamplingParams(max_new_tokens=a.new_tokens, temperature=0.7, top_p=0.9, num_samples=a.group)
    key = jax.random.key(0)

    def live():
        whole = nnx.split(nnx.merge(graphdef, trainable, rngs, frozen))
        return jax.block_until_ready(generate(*whole, prompts_BxP, valid_BxP, key, params))

    def merged():
        return jax.block_until_ready(generate(*merged_for_sampling(graphdef, trainable, rngs, frozen),
                                              prompts_BxP, valid_BxP, key, params))

    variants = {"live adapters": live, "merged (merge included)": merged}
    outs = {name: fn() for name, fn in variants.items()}  # warm-up: compiles both
    same = float(np.mean(np.asarray(outs["live adapters"].tokens_NxM) == np.asarray(outs["merged (merge included)"].tokens_NxM)))
    times = {name: [] for name in variants}
    for _ in range(a.repeats):
        for name, fn in variants.items():
            times[name] += common.call_seconds(fn, 1, warmup=0)
    n = a.prompts * a.group * a.new_tokens
    base = statistics.median(times["live adapters"])
    print(f"SmolLM2-135M + LoRA r16, {a.prompts} prompts x G {a.group}, {a.prompt_len}-token prompts, {a.new_tokens} "
          f"new tokens, {jax.device_count()} {jax.devices()[0].platform} device(s); same sampled tokens: {same:.3f}\n\n"
          "| rollout | s | tok/s | vs live |\n|---|---|---|---|")
    for name in variants:
        s = statistics.median(times[name])
        print(f"| {name} | {s:.2f} | {n / s:.1f} | {s / base:.2f} |")


if __name__ == "__main__":
    main()
