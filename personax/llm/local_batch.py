"""The local backend's pure core: padded shapes, per-request keys, and one sampler call per batch.

Sampled rows get their own key each: the sampler draws one key per call, so it is run under
`jax.vmap` with one single-row prompt per vmapped instance. A row's draws then depend only on
its own key, never on its neighbours or its place in the batch. Greedy rows need no key and go
through the sampler's ordinary batched loop (a scalar cache index, no scatter).
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from personax.llm.base import ChatRequest
from personax.sampler import SamplingParams, generate, left_pad


def next_pow2(n: int) -> int:
    return 1 << max(n - 1, 0).bit_length()


@dataclasses.dataclass(frozen=True)
class Shape:
    rows: int  # B, padded
    prompt: int  # P, padded
    new: int  # M, the sampler's max_new_tokens


def padded_shape(rows: int, longest_prompt: int, most_new: int, *, max_batch: int, context: int,
                 min_prompt: int) -> Shape:
    """Powers of two where the context allows, so jit sees few distinct shapes. Every caller has
    checked longest_prompt + most_new <= context, which keeps P >= longest and M >= most_new."""
    prompt = min(max(next_pow2(longest_prompt), min_prompt), context - most_new)
    new = min(next_pow2(most_new), context - prompt)
    return Shape(min(next_pow2(rows), max_batch), prompt, new)


def request_words(seed: int, request: ChatRequest) -> tuple[int, int]:
    """Two uint32 words naming (seed, messages, temperature, top_p, sample_index). The model
    name, module, json_mode and max_tokens are left out: a longer budget extends the same text."""
    top_p = 1.0 if request.top_p is None else request.top_p  # the same nucleus, the same draws
    blob = json.dumps([seed, [[m.role, m.content] for m in request.messages], float(request.temperature),
                       float(top_p), request.sample_index], ensure_ascii=False)
    digest = hashlib.sha256(blob.encode()).digest()
    return int.from_bytes(digest[:4], "little"), int.from_bytes(digest[4:8], "little")


@functools.partial(jax.jit, static_argnames=("graphdef", "params"))
def generate_per_row(graphdef, state, prompt_BxP, valid_BxP, words_Bx2, params: SamplingParams):
    """`generate` with one key per row: (tokens_BxM, lengths_B)."""
    def one_row(prompt_P, valid_P, words_2):
        key = jax.random.fold_in(jax.random.fold_in(jax.random.key(0), words_2[0]), words_2[1])
        out = generate(graphdef, state, prompt_P[None], valid_P[None], key, params)
        return out.tokens_NxM[0], out.lengths_N[0]
    return jax.vmap(one_row)(prompt_BxP, valid_BxP, words_Bx2)


def run_batch(model: nnx.Module, prompts: list[list[int]], words: list[tuple[int, int]],
              params: SamplingParams, shape: Shape, pad_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Generated tokens (rows x M, 0 after a stop) and lengths (stop included) of each prompt."""
    n = len(prompts)
    # Filler rows repeat the first request, so they stop when it does instead of running on.
    prompts = prompts + [prompts[0]] * (shape.rows - n)
    words_Bx2 = np.asarray(words + [words[0]] * (shape.rows - n), np.uint32)
    prompt_BxP, valid_BxP = left_pad(prompts, pad_id, shape.prompt)
    graphdef, state = nnx.split(model)
    if params.greedy:
        out = generate(graphdef, state, prompt_BxP, valid_BxP, jax.random.key(0), params)
        tokens_BxM, lengths_B = out.tokens_NxM, out.lengths_N
    else:
        tokens_BxM, lengths_B = generate_per_row(graphdef, state, prompt_BxP, valid_BxP,
                                                 jnp.asarray(words_Bx2), params)
    return np.asarray(tokens_BxM)[:n], np.asarray(lengths_B)[:n]
