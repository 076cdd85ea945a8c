"""Statistics of a loaded file, as printed by `personax data inspect`."""
from __future__ import annotations

import collections
import dataclasses
import statistics as st
from typing import Callable, Sequence

from personax.data.examples import build_examples
from personax.data.importers import Loaded
from personax.data.policy_io import count_statuses, parse_output
from personax.data.records import ReleasedRecord, RichRecord, to_released
from personax.data.state import build_state


@dataclasses.dataclass
class Summary:
    lines: list[str]
    personas: int
    problems: list[str] = dataclasses.field(default_factory=list)  # counted as errors


def describe(name: str, values: Sequence[float]) -> str:
    if not values:
        return f"{name}: none"
    return (f"{name}: mean={st.fmean(values):.2f} min={min(values)} max={max(values)} "
            f"n={len(values)}")


def _shares(counter: collections.Counter, total: int) -> str:
    return " ".join(f"{k}={v / total:.3f}" for k, v in sorted(counter.items())) if total else "-"


# Inferred from each adapted query and attached per conversation (SPEC §1.3), so they may vary.
PER_QUERY_DIMS = ("domain", "scenario")


def _lasting(persona: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in persona.items() if k not in PER_QUERY_DIMS}


def _conversations(loaded: Loaded) -> Summary:
    recs: list[ReleasedRecord | RichRecord] = loaded.records
    rel = [to_released(r) if isinstance(r, RichRecord) else r for r in recs]
    personas = {r.persona_id: r.persona for r in rel}
    stable = {pid: _lasting(p) for pid, p in personas.items()}
    problems = sorted({f"persona {r.persona_id}: its conversations disagree on the persona"
                       for r in rel if _lasting(r.persona) != stable[r.persona_id]})
    per_persona = collections.Counter(r.persona_id for r in rel)
    lines = [describe("turns", [r.num_turns for r in rel]),
             f"turn counts: {dict(sorted(collections.Counter(r.num_turns for r in rel).items()))}",
             describe("conversations per persona", list(per_persona.values())),
             describe("features per persona", [len(p) for p in personas.values()]),
             f"conversations ended: {sum(r.conversation_ended for r in rel)}/{len(rel)}"]
    users = [m for r in recs if isinstance(r, RichRecord) for m in r.messages if m.role == "user"]
    if users:
        noised = [m for m in users if m.was_noised]
        layers = collections.Counter(m.noise.layer for m in noised if m.noise)
        strategies = collections.Counter(s for m in noised if m.noise
                                         for s in m.noise.applied_strategies)
        lines += [f"user messages: {len(users)} noised={len(noised) / len(users):.3f}",
                  f"noise layers: {_shares(layers, len(noised))}",
                  f"noise strategies per noised message: {_shares(strategies, len(noised))}"]
    elif rel:
        styled = sum(r.full_conversation[0].content != r.initial_query for r in rel)
        lines.append(f"initial queries sent noised: {styled / len(rel):.3f}")
    examples, build = build_examples(recs)
    lines += [describe("history sessions per PPOpt example", [len(e.history_texts) for e in examples]),
              f"PPOpt examples: {build.examples} (personas without history: "
              f"{build.skipped_no_history})"]
    return Summary(lines, len(personas), problems)


def _sft(loaded: Loaded) -> Summary:
    parsed = [parse_output(r.output, r.query) for r in loaded.records]
    return Summary([describe("history sessions", [len(r.history_texts) for r in loaded.records]),
                    f"output parse: {count_statuses(parsed)}"],
                   len({r.persona_key for r in loaded.records}))


def _rl(loaded: Loaded) -> Summary:
    recs = loaded.records
    problems = [f"{r.state_id}: input differs from the state rebuilt from history_texts and "
                f"original_query" for r in recs
                if build_state(r.history_texts, r.original_query) != r.input]
    lines = [describe("history sessions", [len(r.history_texts) for r in recs]),
             describe("user turns per session", [t.count("\n\nUser: ") + 1 for r in recs
                                                 for t in r.history_texts]),
             describe("features per persona", [len(r.persona) for r in recs]),
             f"state text rebuilt byte-exact: {len(recs) - len(problems)}/{len(recs)}"]
    return Summary(lines, len({r.persona_id for r in recs}), problems)


def _examples(loaded: Loaded) -> Summary:
    recs = loaded.records
    parsed = [parse_output(r.output, r.original_query) for r in recs if r.output is not None]
    problems = [f"{r.state_id}: input differs from the state rebuilt from history_texts and "
                f"original_query" for r in recs
                if build_state(r.history_texts, r.original_query) != r.input]
    return Summary([describe("history sessions", [len(r.history_texts) for r in recs]),
                    f"labelled: {len(parsed)}/{len(recs)} output parse: {count_statuses(parsed)}"],
                   len({r.persona_id for r in recs}), problems)


def _statistics(loaded: Loaded) -> Summary:
    (s,) = loaded.records
    return Summary([f"{k}: {v}" for k, v in dataclasses.asdict(s).items()], s.unique_personas)


def _tokens(loaded: Loaded) -> Summary:
    (report,) = loaded.records
    total = report.summary["total_tokens"]
    lines = [f"calls: {len(report.calls)} tokens: {total}"]
    for attr in ("module", "model"):
        for name, n in sorted(report.tokens_by(attr).items(), key=lambda kv: -kv[1]):
            lines.append(f"tokens by {attr} {name}: {n} ({n / total:.3f})")
    return Summary(lines, 0)


def _accounting(loaded: Loaded) -> Summary:
    (report,) = loaded.records
    lines = [f"calls: {report.calls} tokens: {report.tokens} cost_usd: {report.cost_usd:.4f}"]
    for name, n in sorted(report.tokens_by_module.items(), key=lambda kv: -kv[1]):
        lines.append(f"tokens by module {name}: {n} ({n / max(report.tokens, 1):.3f})")
    return Summary(lines, 0)


SUMMARIZERS: dict[str, Callable[[Loaded], Summary]] = {
    "rich": _conversations, "released": _conversations, "example": _examples, "sft": _sft, "rl": _rl,
    "statistics": _statistics, "token_usage": _tokens, "accounting": _accounting}


def record_count(loaded: Loaded) -> int:
    if loaded.kind == "token_usage" and loaded.records:
        return len(loaded.records[0].calls)
    if loaded.kind == "accounting" and loaded.records:
        return loaded.records[0].calls
    return len(loaded.records)
