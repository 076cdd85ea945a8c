"""GRPO rollout sampling on CPU: decode ms a step against prompt length and group size, and the top-p
nucleus (bisection, the sampler's) against a vocabulary sort, side by side in one run.

    .venv/bin/python bench/rollout_decode.py [--prompts 4] [--groups 4,8] [--prompt-lens 100,800]

SmolLM2-135M-Instruct, f32; B prompts of random tokens (all real), G samples each, T 0.7, top-p 0.9, no
stop token. A decode step's time is (t(48 new) − t(16 new)) / 32, so the prefill cancels; each timed
call follows a warm-up call of the same shape. With the prompt's cache shared by its G rows
(`personax.models.transformer.share_prefix`), a step's cost barely grows with the prompt; run the same
script at a commit before it to see the repeated-cache numbers.
"""
from __future__ import annotations

import argparse
import os
import pathlib
import sys

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from speed_common import median_seconds  # noqa: E402


def _timed(fn) -> float:
    """One warm-up call of the shape, then one timed."""
    return median_seconds(fn, repeats=1)


def sorted_nucleus(logits_NxV, top_p):
    """The nucleus the direct way, for comparison: sort, keep while the mass before is below top_p."""
    sorted_NxV = jnp.sort(logits_NxV, axis=-1)[:, ::-1]
    probs_NxV = jax.nn.softmax(sorted_NxV, axis=-1)
    before_NxV = jnp.cumsum(probs_NxV, axis=-1) - probs_NxV
    cutoff_N1 = jnp.min(jnp.where(before_NxV < top_p, sorted_NxV, jnp.inf), axis=-1, keepdims=True)
    return jnp.where(logits_NxV < cutoff_N1, jnp.finfo(logits_NxV.dtype).min, logits_NxV)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompts", type=int, default=4)
    ap.add_argument("--groups", default="4,8")
    ap.add_argument("--prompt-lens", default="100,800")
    args = ap.parse_args()
    from flax import nnx

    from personax.models import hub
    from personax.sampler import SamplingParams, filter_logits, generate

    model, _, _ = hub.load("smollm2-135m-instruct", param_dtype="float32", dtype="float32")
    graphdef, state = nnx.split(model)
    rng = np.random.default_rng(0)
    B = args.prompts
    print("| G | rows | prompt tokens | decode ms/step | top-p filter ms (bisection) | top-p filter ms (sort) |")
    print("|---|---|---|---|---|---|")
    for G in [int(g) for g in args.groups.split(",")]:
        logits = jnp.asarray(rng.standard_normal((B * G, model.cfg.vocab_size)).astype(np.float32) * 4)
        bisect, by_sort = jax.jit(lambda x: filter_logits(x, 0.9, 0)), jax.jit(lambda x: sorted_nucleus(x, 0.9))
        t_bisect = _timed(lambda: bisect(logits).block_until_ready()) * 1000
        t_sort = _timed(lambda: by_sort(logits).block_until_ready()) * 1000
        for P in [int(p) for p in args.prompt_lens.split(",")]:
            tokens = rng.integers(100, 20000, (B, P)).astype(np.int32)
            valid = np.ones((B, P), bool)
            seconds = {}
            for M in (16, 48):
                params = SamplingParams(max_new_tokens=M, temperature=0.7, top_p=0.9, num_samples=G, stop_ids=(-1,))
                seconds[M] = _timed(lambda: generate(graphdef, state, tokens, valid, jax.random.key(0),
                                                     params).tokens_NxM.block_until_ready())
            step_ms = (seconds[48] - seconds[16]) / 32 * 1000
            print(f"| {G} | {B * G} | {P} | {step_ms:.0f} | {t_bisect:.1f} | {t_sort:.1f} |", flush=True)


if __name__ == "__main__":
    main()
