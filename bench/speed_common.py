"""Shared pieces of the training-speed benchmark: timing, the matmul peak, FLOP counts, the reward."""
from __future__ import annotations

import os
import statistics
import time
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np


def call_seconds(fn: Callable[[], object], repeats: int, warmup: int = 1) -> list[float]:
    """Wall times of `repeats` calls after `warmup` untimed ones (compilation, first-call caches).
    `fn` must block until its work is done."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def median_seconds(fn: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    return statistics.median(call_seconds(fn, repeats, warmup))


def jax_matmul_gflops(sizes: tuple[int, ...] = (512, 1024, 2048), repeats: int = 5) -> tuple[float, int]:
    """Best f32 GFLOP/s of an n×n by n×n `jnp` matmul over `sizes` and repeats (a peak is the best
    the machine did, so the fastest call counts), and the size that reached it."""
    mm = jax.jit(jnp.matmul)
    best = (0.0, 0)
    for n in sizes:
        a, b = (jax.random.normal(jax.random.key(i), (n, n), jnp.float32) for i in (0, 1))
        s = min(call_seconds(lambda: mm(a, b).block_until_ready(), repeats))
        best = max(best, (2 * n ** 3 / s / 1e9, n))
    return best


def torch_matmul_gflops(sizes: tuple[int, ...] = (512, 1024, 2048), repeats: int = 5) -> tuple[float, int]:
    """The same through torch's CPU BLAS (MKL), with all cores and with one thread (on a busy
    machine one thread can win); torch's thread count is left as it was."""
    import torch
    before, best = torch.get_num_threads(), (0.0, 0)
    for threads in dict.fromkeys((os.cpu_count() or 1, 1)):
        torch.set_num_threads(threads)
        for n in sizes:
            a, b = torch.randn(n, n), torch.randn(n, n)
            s = min(call_seconds(lambda: a @ b, repeats))
            best = max(best, (2 * n ** 3 / s / 1e9, n))
    torch.set_num_threads(before)
    return best


def train_flops_per_token(n_params: int, n_trainable: int, full: bool) -> float:
    """Model FLOPs of one training token, attention scores left out (the usual 6N convention).
    Full FT: 2N forward + 4N backward. LoRA: the frozen base still costs 2N forward + 2N for the
    input gradients (its weight gradients are skipped); the adapters cost 6 per trainable weight.
    With tied embeddings the lookup is free and the head matmul is 2·d·V, so counting every
    parameter once is right."""
    if full:
        return 6.0 * n_params
    return 4.0 * (n_params - n_trainable) + 6.0 * n_trainable


def random_sequences(batch: int, length: int, vocab: int, seed: int) -> np.ndarray:
    """Fixed token ids shared by both frameworks (ids below the vocabulary, so no special handling)."""
    return np.random.default_rng(seed).integers(0, vocab, size=(batch, length), dtype=np.int32)


def length_reward(completions: list[str]) -> list[float]:
    """A trivial, nearly free reward (characters of the completion / 100): it varies across a group,
    so advantages are nonzero and the update does real work, while costing no model time."""
    return [len(c) / 100.0 for c in completions]


def sft_row(length: int, completion: int) -> dict:
    """One SFT batch row of `length` fixed random tokens whose last `completion` are the target."""
    return {"tokens": jnp.asarray(np.random.default_rng(0).integers(1, 40000, (1, length)), jnp.int32),
            "positions": jnp.arange(length, dtype=jnp.int32)[None], "segment_ids": jnp.ones((1, length), jnp.int32),
            "loss_mask": (jnp.arange(length) >= length - completion)[None].astype(jnp.int32)}


def smollm2_lora(rank: int = 16, alpha: float = 32.0):
    """SmolLM2-135M-Instruct (f32) with LoRA on every projection, split for training:
    (graphdef, trainable, rngs, frozen)."""
    from flax import nnx

    from personax.models.hub import load
    from personax.models.lora import LoRAConfig, apply_lora
    from personax.train.step import split_for_training

    model, _, _ = load("smollm2-135m-instruct", param_dtype="float32", dtype="float32")
    apply_lora(model, LoRAConfig(rank=rank, alpha=alpha), nnx.Rngs(0))
    return split_for_training(model)
