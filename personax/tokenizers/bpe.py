"""The BPE merge loop over one pre-tokenized word, with a per-word cache."""
from __future__ import annotations

import heapq
from collections.abc import Iterable

_CACHE_LIMIT = 200_000


class BPEModel:
    """Merges ranked by position; `ignore_merges` (Llama-3) emits a word that is itself a token unmerged."""

    def __init__(self, vocab: dict[str, int], merges: Iterable[tuple[str, str]], *, ignore_merges: bool = False,
                 unk_token: str | None = None):
        self.vocab = vocab
        self.merges = [tuple(m) for m in merges]
        self.ranks = {pair: rank for rank, pair in enumerate(self.merges)}
        self.ignore_merges = ignore_merges
        self.unk_token = unk_token
        self.unk_id = vocab.get(unk_token) if unk_token is not None else None
        self._cache: dict[str, tuple[int, ...]] = {}

    def _merge(self, word: str) -> list[str]:
        # Lowest rank first, then leftmost, as `tokenizers` does; a heap over a linked list keeps long words
        # (hashes, base64, runs of symbols) at n log n instead of n^2.
        symbols: list[str | None] = list(word)
        n, ranks = len(symbols), self.ranks
        nxt, prev = list(range(1, n + 1)), list(range(-1, n - 1))
        heap = [(ranks[pair], i, *pair) for i in range(n - 1) if (pair := (symbols[i], symbols[i + 1])) in ranks]
        heapq.heapify(heap)
        while heap:
            _, i, left, right = heapq.heappop(heap)
            j = nxt[i]
            if symbols[i] != left or j >= n or symbols[j] != right:
                continue  # stale: one side was merged into something else since this entry was pushed
            symbols[i], symbols[j] = left + right, None
            nxt[i] = nxt[j]
            if nxt[i] < n:
                prev[nxt[i]] = i
            for a, b in ((prev[i], i), (i, nxt[i])):
                if a >= 0 and b < n and (pair := (symbols[a], symbols[b])) in ranks:
                    heapq.heappush(heap, (ranks[pair], a, *pair))
        return [s for s in symbols if s is not None]

    def _ids(self, symbols: list[str]) -> tuple[int, ...]:
        ids = []
        for s in symbols:
            token_id = self.vocab.get(s, self.unk_id)
            if token_id is not None:  # like `tokenizers`, a symbol with no id and no unk token is dropped
                ids.append(token_id)
        return tuple(ids)

    def tokenize(self, word: str) -> tuple[int, ...]:
        cached = self._cache.get(word)
        if cached is not None:
            return cached
        if self.ignore_merges and word in self.vocab:
            ids = (self.vocab[word],)
        else:
            ids = self._ids(self._merge(word))
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[word] = ids
        return ids
