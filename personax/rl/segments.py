"""Segment credit: each part of a completion is credited only with the rewards it can change.

A PPOpt completion is `<REASONING>profile</REASONING><PROMPT>rewrite</PROMPT>`. A reward that reads
only the REASONING (the profile judge) is fixed once `</REASONING>` is written, so no PROMPT token can
change it: in the policy gradient its term on those tokens has expectation zero and only adds noise.
With `grpo.advantage.credit="segments"` the tokens through the closing tag get the advantage of the
total reward R (the profile also steers the rewrite written after it), and the tokens after it get the
advantage of R without the reasoning-only terms, each normalised within its group as usual. A
completion whose reasoning never closes has no such point: all its tokens get R's advantage.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from personax.data.policy_io import reasoning_close_end

CREDIT_MODES = ("sequence", "segments")


def reasoning_token_ends(decode: Callable[[list[int]], str], tokens_NxM: np.ndarray,
                         lengths_N: Sequence[int]) -> np.ndarray:
    """Per row, how many completion tokens it takes for the decoded text to close its REASONING (the
    first `</REASONING>` after `<REASONING>`, as `parse_output` reads it); the row's length when it never
    closes. Closing is monotone in the prefix, so a binary search needs ~log2(M) decodes a row."""
    ends = []
    for row, n in zip(tokens_NxM, lengths_N):
        n = int(n)
        ids = [int(t) for t in row[:n]]
        if reasoning_close_end(decode(ids)) is None:
            ends.append(n)
            continue
        lo, hi = 1, n  # the smallest prefix that closes lies in [lo, hi]
        while lo < hi:
            mid = (lo + hi) // 2
            if reasoning_close_end(decode(ids[:mid])) is None:
                lo = mid + 1
            else:
                hi = mid
        ends.append(lo)
    return np.asarray(ends, np.int32)


def segment_advantages(adv_reasoning_N: np.ndarray, adv_prompt_N: np.ndarray, ends_N: np.ndarray,
                       num_tokens: int) -> np.ndarray:
    """[N, M] per-token advantages: row i's tokens before `ends_N[i]` get `adv_reasoning_N[i]`, the rest
    `adv_prompt_N[i]`."""
    n = len(adv_reasoning_N)
    if not len(adv_prompt_N) == len(ends_N) == n:
        raise ValueError(f"segment_advantages: {n} reasoning advantages, {len(adv_prompt_N)} prompt "
                         f"advantages and {len(ends_N)} ends must be one per row")
    before_NxM = np.arange(num_tokens)[None, :] < np.asarray(ends_N)[:, None]
    return np.where(before_NxM, np.asarray(adv_reasoning_N, np.float32)[:, None],
                    np.asarray(adv_prompt_N, np.float32)[:, None]).astype(np.float32)
