"""The generator's run reports: `statistics.json` and `token_usage.json`, checked for consistency."""
from __future__ import annotations

import collections
import dataclasses

from personax.data.fields import Fields


@dataclasses.dataclass(frozen=True)
class RunStatistics:
    """The generator's `statistics.json`."""
    total_samples: int
    avg_turns: float
    min_turns: int
    max_turns: int
    unique_personas: int
    total_user_prompts: int

    @classmethod
    def from_json(cls, f: Fields) -> "RunStatistics":
        st = cls(total_samples=f.get("total_samples", int), avg_turns=f.get("avg_turns", float),
                 min_turns=f.get("min_turns", int), max_turns=f.get("max_turns", int),
                 unique_personas=f.get("unique_personas", int),
                 total_user_prompts=f.get("total_user_prompts", int))
        if st.total_samples and not st.min_turns <= st.avg_turns <= st.max_turns:
            raise f.error("avg_turns", f"expected within [min_turns, max_turns], got {st.avg_turns}")
        return st


_TOKEN_KEYS = ("input_tokens", "output_tokens", "total_tokens")


@dataclasses.dataclass(frozen=True)
class TokenCall:
    module: str
    operation: str
    model: str
    provider: str
    input_tokens: int
    output_tokens: int


@dataclasses.dataclass(frozen=True)
class TokenReport:
    """The generator's `token_usage.json`: per-call records and their totals."""
    calls: tuple[TokenCall, ...]
    summary: dict[str, int]

    @classmethod
    def from_json(cls, f: Fields) -> "TokenReport":
        calls = []
        for c in f.items("records"):
            call = TokenCall(module=c.text("module"), operation=c.text("operation"),
                             model=c.text("model"), provider=c.text("provider"),
                             input_tokens=c.get("input_tokens", int),
                             output_tokens=c.get("output_tokens", int))
            if c.get("total_tokens", int) != call.input_tokens + call.output_tokens:
                raise c.error("total_tokens", "expected input_tokens + output_tokens")
            calls.append(call)
        summary = f.sub("statistics").sub("summary")
        want = {"total_calls": len(calls),
                "total_input_tokens": sum(c.input_tokens for c in calls),
                "total_output_tokens": sum(c.output_tokens for c in calls)}
        want["total_tokens"] = want["total_input_tokens"] + want["total_output_tokens"]
        for key, value in want.items():
            if summary.get(key, int) != value:
                raise summary.error(key, f"expected {value} (the sum over records)")
        return cls(tuple(calls), want)

    def tokens_by(self, attr: str) -> dict[str, int]:
        totals: collections.Counter[str] = collections.Counter()
        for c in self.calls:
            totals[getattr(c, attr)] += c.input_tokens + c.output_tokens
        return dict(totals)


@dataclasses.dataclass(frozen=True)
class AccountingReport:
    """personax's own `token_usage.json` (llm.accounting): totals and tokens per module."""
    calls: int
    tokens: int
    cost_usd: float
    tokens_by_module: dict[str, int]

    @classmethod
    def from_json(cls, f: Fields) -> "AccountingReport":
        totals = f.sub("totals")
        tokens = totals.get("tokens", int)
        if tokens != totals.get("prompt_tokens", int) + totals.get("completion_tokens", int):
            raise totals.error("tokens", "expected prompt_tokens + completion_tokens")
        by_module = f.sub("tokens_by_module")
        modules = {k: by_module.get(k, int) for k in by_module.obj}
        if sum(modules.values()) != tokens:
            raise f.error("tokens_by_module", f"expected to sum to totals.tokens ({tokens})")
        return cls(totals.get("calls", int), tokens, totals.get("cost_usd", float), modules)
