"""The BPE merge loop over one pre-tokenized word, with a per-word cache."""
from __future__ import annotations

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
        symbols = list(word)
        ranks = self.ranks
        while len(symbols) > 1:
            best = min(range(len(symbols) - 1), key=lambda i: ranks.get((symbols[i], symbols[i + 1]), 1 << 62))
            pair = (symbols[best], symbols[best + 1])
            if pair not in ranks:
                break
            merged, i = symbols[:best], best
            # Every occurrence of the best pair merges in one left-to-right pass, as in the heap order of
            # `tokenizers` (same rank, increasing position).
            while i < len(symbols):
                if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == pair:
                    merged.append(pair[0] + pair[1])
                    i += 2
                else:
                    merged.append(symbols[i])
                    i += 1
            symbols = merged
        return symbols

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
