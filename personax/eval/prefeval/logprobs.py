"""Log-probabilities of given tokens under a personax model, in jitted fixed-shape batches.

Rows are left-padded to a power-of-two length (at least `min_len`) and batches are filled to
`batch_size` by repeating their first row, so jit compiles one program per length bucket. Only the
positions that are read get vocabulary logits (B x K x V, not B x T x V).

Several continuations of one prompt share a row: prompt, then each continuation in turn, each seeing the
prompt and itself only, at the positions it would have right after the prompt. One row per prompt
instead of one per continuation, with the same numbers as separate rows.
"""
from __future__ import annotations

import functools
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from personax.llm.local_batch import next_pow2
from personax.train.losses import token_logprobs


def pack_row(prompt: list[int], continuations: Sequence[list[int]]):
    """(tokens, segment per token: 0 prompt, k for the k-th continuation, positions, and per continuation
    token its (source index whose logits predict it, token id))."""
    tokens, segments, positions, reads = list(prompt), [0] * len(prompt), list(range(len(prompt))), []
    for k, cont in enumerate(continuations, 1):
        start = len(tokens)
        tokens += cont
        segments += [k] * len(cont)
        positions += range(len(prompt), len(prompt) + len(cont))
        reads.append([(len(prompt) - 1 if j == 0 else start + j - 1, t) for j, t in enumerate(cont)])
    return tokens, segments, positions, reads


class LogprobScorer:
    def __init__(self, model: nnx.Module, pad_id: int, batch_size: int = 8, min_len: int = 64):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.graphdef, self.state = nnx.split(model)
        self.context = int(model.cfg.max_seq_len)
        self.pad_id, self.batch_size, self.min_len = pad_id, batch_size, min_len

    @functools.partial(jax.jit, static_argnums=0)
    def _read(self, state, tokens_BxT, segments_BxT, positions_BxT, src_BxK):
        """log-softmax over the vocabulary at the `src` positions. Segment -1 is padding; a token sees
        earlier tokens of the prompt (segment 0) and of its own segment."""
        T = tokens_BxT.shape[1]
        seg_q, seg_k = segments_BxT[:, :, None], segments_BxT[:, None, :]
        mask_BxTxT = (jnp.tril(jnp.ones((T, T), bool))[None] & (seg_k >= 0)
                      & ((seg_k == 0) | (seg_k == seg_q)))
        model = nnx.merge(self.graphdef, state)
        h_BxTxD, _ = model.hidden(tokens_BxT, positions_BxT, mask_BxTxT)
        h_BxKxD = jnp.take_along_axis(h_BxTxD, src_BxK[:, :, None], axis=1)
        return jax.nn.log_softmax(model.logits(h_BxKxD).astype(jnp.float32), axis=-1)

    @functools.partial(jax.jit, static_argnums=0)
    def _next(self, state, tokens_BxT, segments_BxT, positions_BxT, candidates_C):
        last_Bx1 = jnp.full((tokens_BxT.shape[0], 1), tokens_BxT.shape[1] - 1)
        return self._read(state, tokens_BxT, segments_BxT, positions_BxT, last_Bx1)[:, 0, candidates_C]

    @functools.partial(jax.jit, static_argnums=0)
    def _targets(self, state, tokens_BxT, segments_BxT, positions_BxT, src_BxK, tgt_BxK):
        return token_logprobs(self._read(state, tokens_BxT, segments_BxT, positions_BxT, src_BxK), tgt_BxK)

    def _batches(self, rows: Sequence[tuple[list[int], list[int], list[int]]]):
        """Left-padded (tokens, segments, positions) per batch, with the batch's start, size and pad width."""
        too_long = [i for i, r in enumerate(rows) if len(r[0]) > self.context]
        if too_long:
            raise ValueError(f"rows {too_long[:5]} are longer than the model's context of {self.context} tokens")
        for start in range(0, len(rows), self.batch_size):
            chunk = list(rows[start:start + self.batch_size])
            width = min(max(next_pow2(max(len(r[0]) for r in chunk)), self.min_len), self.context)
            arrays = [np.full((self.batch_size, width), fill, np.int32) for fill in (self.pad_id, -1, 0)]
            for b, row in enumerate(chunk + [chunk[0]] * (self.batch_size - len(chunk))):
                for array, values in zip(arrays, row):
                    array[b, width - len(values):] = values
            yield start, len(chunk), width, arrays

    def next_token(self, rows: Sequence[list[int]], candidates: Sequence[int]) -> np.ndarray:
        """[N, C]: log p(candidate | row) for the token that would follow each row."""
        out = np.zeros((len(rows), len(candidates)), np.float32)
        packed = [(r, [0] * len(r), list(range(len(r)))) for r in rows]
        for start, n, _, arrays in self._batches(packed):
            out[start:start + n] = np.asarray(self._next(self.state, *arrays, jnp.asarray(candidates, jnp.int32)))[:n]
        return out

    def continuations(self, prompts: Sequence[list[int]], continuations: Sequence[Sequence[list[int]]]
                      ) -> list[list[np.ndarray]]:
        """Per-token log p of each continuation after its prompt: out[i][k] for prompt i's k-th continuation."""
        if any(not c for conts in continuations for c in conts):
            raise ValueError("every continuation needs at least one token")
        packed = [pack_row(p, conts) for p, conts in zip(prompts, continuations)]
        out: list[list[np.ndarray]] = []
        for start, n, width, arrays in self._batches([r[:3] for r in packed]):
            reads = [packed[start + b][3] for b in range(n)]
            k = next_pow2(max(sum(len(c) for c in r) for r in reads))
            src, tgt = np.zeros((self.batch_size, k), np.int32), np.zeros((self.batch_size, k), np.int32)
            for b, r in enumerate(reads):
                flat = [pair for cont in r for pair in cont]
                offset = width - len(packed[start + b][0])  # left padding shifts every index
                src[b, :len(flat)] = [s + offset for s, _ in flat]
                tgt[b, :len(flat)] = [t for _, t in flat]
            logp_BxK = np.asarray(self._targets(self.state, *arrays, src, tgt))
            for b, r in enumerate(reads):
                bounds = np.cumsum([0] + [len(c) for c in r])
                out.append([logp_BxK[b, lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:])])
        return out
