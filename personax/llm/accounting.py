"""Token, cost, call, retry and failure accounting, per module and per model."""
from __future__ import annotations

import collections
import dataclasses
import os
import pathlib
import threading
from typing import Any, Iterable

from personax.llm import atomic

# (model, USD per 1M prompt tokens, USD per 1M completion tokens)
PriceRow = tuple[str, float, float]


def parse_prices(rows: Iterable[Iterable[Any]]) -> dict[str, tuple[float, float]]:
    table = {}
    for i, row in enumerate(rows):
        row = tuple(row)
        if len(row) != 3 or not isinstance(row[0], str):
            raise ValueError(
                f"prices[{i}] = {row!r}: expected (model, usd_per_1m_prompt, usd_per_1m_completion)"
            )
        try:
            prompt, completion = float(row[1]), float(row[2])
        except (TypeError, ValueError):
            raise ValueError(f"prices[{i}] = {row!r}: prices must be numbers") from None
        if prompt < 0 or completion < 0:
            raise ValueError(f"prices[{i}] = {row!r}: prices must be non-negative")
        table[row[0]] = (prompt, completion)
    return table


@dataclasses.dataclass
class _Tally:
    calls: int = 0  # answered HTTP calls (paid)
    cache_hits: int = 0  # answers served from cache or a shared in-flight call (free)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_prompt_tokens: int = 0
    cached_completion_tokens: int = 0
    retries: int = 0
    failed_requests: int = 0
    latency_s: float = 0.0
    cost_usd: float = 0.0  # filled in by summary() from the price table
    saved_usd: float = 0.0  # what the cache hits would have cost
    faults: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    failures: collections.Counter = dataclasses.field(default_factory=collections.Counter)

    def add(self, other: "_Tally") -> None:
        for f in dataclasses.fields(self):
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            if isinstance(mine, collections.Counter):
                mine.update(theirs)
            else:
                setattr(self, f.name, mine + theirs)


class Accounting:
    """Shared by every client of a run; safe to update from several threads."""

    def __init__(self, prices: Iterable[Iterable[Any]] = ()):
        self.prices = parse_prices(prices)
        self._tallies: dict[tuple[str, str], _Tally] = collections.defaultdict(_Tally)
        self._lock = threading.Lock()

    def add_prices(self, rows: Iterable[Iterable[Any]]) -> None:
        """Merge another role's price rows; a model priced twice must be priced the same."""
        for model, price in parse_prices(rows).items():
            if self.prices.setdefault(model, price) != price:
                raise ValueError(f"prices for {model!r} disagree: {self.prices[model]} vs {price}")

    def record_call(self, module: str, model: str, prompt_tokens: int, completion_tokens: int,
                    latency_s: float) -> None:
        with self._lock:
            t = self._tallies[module, model]
            t.calls += 1
            t.prompt_tokens += prompt_tokens
            t.completion_tokens += completion_tokens
            t.latency_s += latency_s

    def record_cache_hit(self, module: str, model: str, prompt_tokens: int,
                         completion_tokens: int) -> None:
        with self._lock:
            t = self._tallies[module, model]
            t.cache_hits += 1
            t.cached_prompt_tokens += prompt_tokens
            t.cached_completion_tokens += completion_tokens

    def record_fault(self, module: str, model: str, kind: str, *, will_retry: bool) -> None:
        """One failed attempt; if it is not retried it ends the request as a failure."""
        with self._lock:
            t = self._tallies[module, model]
            t.faults[kind] += 1
            if will_retry:
                t.retries += 1
            else:
                t.failed_requests += 1
                t.failures[kind] += 1

    def _priced(self, model: str, t: _Tally) -> _Tally:
        prompt, completion = self.prices.get(model, (0.0, 0.0))
        return dataclasses.replace(
            t, faults=collections.Counter(t.faults), failures=collections.Counter(t.failures),
            cost_usd=(t.prompt_tokens * prompt + t.completion_tokens * completion) / 1e6,
            saved_usd=(t.cached_prompt_tokens * prompt + t.cached_completion_tokens * completion) / 1e6)

    @staticmethod
    def _as_dict(t: _Tally) -> dict[str, Any]:
        row = dataclasses.asdict(t)
        row["faults"], row["failures"] = dict(t.faults), dict(t.failures)
        for name in ("latency_s", "cost_usd", "saved_usd"):
            row[name] = round(row[name], 8)
        return row

    def summary(self) -> dict[str, Any]:
        with self._lock:
            items = [(module, model, self._priced(model, t))
                     for (module, model), t in self._tallies.items()]
        total = _Tally()
        groups: dict[str, dict[str, _Tally]] = {"by_module": {}, "by_model": {}}
        for module, model, t in items:
            total.add(t)
            groups["by_module"].setdefault(module, _Tally()).add(t)
            groups["by_model"].setdefault(model, _Tally()).add(t)
        out: dict[str, Any] = {"totals": self._as_dict(total)}
        for group, rows in groups.items():
            out[group] = {name: self._as_dict(t) for name, t in sorted(rows.items())}
        out["unpriced_models"] = sorted({m for _, m, t in items if m not in self.prices and t.calls})
        return out

    def write_report(self, path: str | os.PathLike) -> pathlib.Path:
        return atomic.write_json(path, self.summary(), indent=2, sort_keys=True)
