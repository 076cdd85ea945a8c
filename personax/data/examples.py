"""PersonaAtlas conversations -> PPOpt examples (SPEC §1.7), and persona-disjoint splits."""
from __future__ import annotations

import dataclasses
import random
from typing import Any, Iterable, Mapping, Sequence

from personax.data.fields import Fields
from personax.data.records import ReleasedRecord, RichRecord, to_released
from personax.data.rich import persona_from
from personax.data.state import build_state, render_session

MAX_HISTORY = 4


@dataclasses.dataclass(frozen=True)
class PPOptExample:
    state_id: str  # the target conversation's id
    persona_id: str
    persona: dict[str, str]  # ground truth: for teachers and judges, never in `input`
    history_texts: tuple[str, ...]
    original_query: str  # the target's clean initial_query (the authors' field name)
    input: str  # the state text the policy reads
    output: str | None = None  # SFT target `<REASONING>…</REASONING><PROMPT>…</PROMPT>`

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["history_texts"] = list(self.history_texts)
        return d

    @classmethod
    def from_json(cls, f: Fields) -> "PPOptExample":
        return cls(state_id=f.text("state_id", nonempty=True), persona_id=f.text("persona_id"),
                   persona=persona_from(f, "persona"),
                   history_texts=tuple(f.strings("history_texts", nonempty=True)),
                   original_query=f.text("original_query", nonempty=True),
                   input=f.text("input", nonempty=True), output=f.text("output", optional=True))


@dataclasses.dataclass
class BuildStats:
    personas: int = 0
    examples: int = 0
    skipped_no_history: int = 0  # personas with a single conversation


def build_examples(records: Iterable[ReleasedRecord | RichRecord], max_history: int = MAX_HISTORY,
                   states_per_persona: int = 1) -> tuple[list[PPOptExample], BuildStats]:
    """Up to `states_per_persona` examples per persona, the canonical one first: targets are the
    conversations with the fewest turns (input order on a tie), each one's history the persona's
    other conversations in input order, at most `max_history`, at least one."""
    if states_per_persona < 1:
        raise ValueError(f"states_per_persona must be >= 1, got {states_per_persona}")
    by_persona: dict[str, list[ReleasedRecord]] = {}
    for rec in records:
        rel = to_released(rec) if isinstance(rec, RichRecord) else rec
        by_persona.setdefault(rel.persona_id, []).append(rel)
    stats, examples = BuildStats(personas=len(by_persona)), []
    for persona_id, convs in by_persona.items():
        if len(convs) < 2:
            stats.skipped_no_history += 1
            continue
        for target in sorted(convs, key=lambda c: c.num_turns)[:states_per_persona]:
            history = [c for c in convs if c is not target][:max_history]
            texts = tuple(render_session([(t.role, t.content) for t in c.full_conversation])
                          for c in history)
            examples.append(PPOptExample(
                state_id=target.id, persona_id=persona_id, persona=dict(target.persona),
                history_texts=texts, original_query=target.initial_query,
                input=build_state(texts, target.initial_query)))
    stats.examples = len(examples)
    return examples, stats


def first_per_persona(examples: Sequence[PPOptExample], k: int = 1) -> list[PPOptExample]:
    """Each persona's first `k` examples, in input order (the canonical state first)."""
    if k < 1:
        raise ValueError(f"states per persona must be >= 1, got {k}")
    kept: dict[str, int] = {}
    out = []
    for e in examples:
        if kept.get(e.persona_id, 0) < k:
            kept[e.persona_id] = kept.get(e.persona_id, 0) + 1
            out.append(e)
    return out


def split_personas(persona_ids: Iterable[str], sizes: Mapping[str, int | float], seed: int
                   ) -> dict[str, list[str]]:
    """Disjoint persona sets per split name, drawn by a seeded shuffle of the sorted ids.

    Sizes are counts (int) or fractions (float) of all personas. Boundaries are rounded
    cumulatively, so fractions summing to 1 cover every persona; a split asking for more than
    is left gets the rest.
    """
    ids = sorted(set(persona_ids))
    random.Random(seed).shuffle(ids)
    out, start, cumulative = {}, 0, 0.0
    for name, size in sizes.items():
        if isinstance(size, float) and not 0.0 <= size <= 1.0:
            raise ValueError(f"split {name!r}: fraction {size} is outside [0, 1]")
        if size < 0:
            raise ValueError(f"split {name!r}: count {size} is negative")
        cumulative += size * len(ids) if isinstance(size, float) else size
        end = max(start, min(round(cumulative), len(ids)))
        out[name], start = ids[start:end], end
    return out


def split_examples(examples: Sequence[PPOptExample], sizes: Mapping[str, int | float], seed: int
                   ) -> dict[str, list[PPOptExample]]:
    assignment = split_personas((e.persona_id for e in examples), sizes, seed)
    owner = {pid: name for name, pids in assignment.items() for pid in pids}
    return {name: [e for e in examples if owner.get(e.persona_id) == name] for name in sizes}
