"""Weighted model pools: a role may spread its calls over several hosted models."""
from __future__ import annotations

import bisect
import dataclasses
import hashlib
import itertools
from typing import Any

# The paper's assistant pool as configured in the reference code (yccm/LLM-PPOpt config.yaml),
# written as OpenRouter ids so that one endpoint serves the whole pool.
PAPER_ASSISTANT_POOL = (
    ("openai/gpt-4o-mini", 0.2),
    ("openai/gpt-5.2", 0.2),
    ("anthropic/claude-haiku-4.5", 0.1),
    ("anthropic/claude-sonnet-4.5", 0.1),
    ("x-ai/grok-4.1-fast", 0.1),
    ("mistralai/ministral-8b-2512", 0.1),
    ("google/gemini-3-flash-preview", 0.1),
    ("meta-llama/llama-3.1-405b-instruct", 0.1),
)


def parse_models(spec: Any) -> tuple[tuple[str, float], ...]:
    """Models and weights from a config value.

    Accepts a sequence of (name, weight) pairs or bare names (weight 1), or a string
    "name=weight,name" as typed in a command-line override. Names may contain ':' and '/'
    (Ollama tags, OpenRouter ids).
    """
    if isinstance(spec, str):
        spec = [item.strip() for item in spec.split(",") if item.strip()]
    entries = []
    for i, item in enumerate(spec):
        if isinstance(item, str):
            name, _, weight = item.rpartition("=") if "=" in item else (item, "", "1")
        elif isinstance(item, (tuple, list)) and len(item) == 2:
            name, weight = item
        else:
            raise ValueError(f"models[{i}] = {item!r}: expected 'name', 'name=weight' or (name, weight)")
        try:
            weight = float(weight)
        except (TypeError, ValueError):
            raise ValueError(f"models[{i}] = {item!r}: weight must be a number") from None
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"models[{i}] = {item!r}: model name must be a non-empty string")
        if not weight > 0:
            raise ValueError(f"models[{i}] = {item!r}: weight must be > 0")
        entries.append((name.strip(), weight))
    if not entries:
        raise ValueError("models: at least one model is required")
    names = [n for n, _ in entries]
    if len(set(names)) != len(names):
        raise ValueError(f"models: duplicate model names in {names}")
    return tuple(entries)


@dataclasses.dataclass(frozen=True)
class ModelPool:
    entries: tuple[tuple[str, float], ...]
    seed: int = 0

    @classmethod
    def from_spec(cls, spec: Any, seed: int = 0) -> "ModelPool":
        return cls(parse_models(spec), seed)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(n for n, _ in self.entries)

    @property
    def probabilities(self) -> dict[str, float]:
        total = sum(w for _, w in self.entries)
        return {n: w / total for n, w in self.entries}

    def choose(self, key: str | int) -> str:
        """The model for `key` (e.g. a conversation id).

        A pure function of (seed, key) rather than a stream of draws, so concurrent or resumed
        runs give every conversation the same model whatever order the work happens in.
        """
        digest = hashlib.sha256(f"{self.seed}\x00{key}".encode("utf-8")).digest()
        u = int.from_bytes(digest[:8], "big") / 2.0**64
        cumulative = list(itertools.accumulate(w for _, w in self.entries))
        index = bisect.bisect_right(cumulative, u * cumulative[-1])
        return self.entries[min(index, len(self.entries) - 1)][0]

