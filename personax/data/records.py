"""PersonaAtlas records: the released (HF) schema, the rich form, and conversions between them.

`ReleasedRecord` is one line of the released JSONL (SPEC §1.6). `RichRecord` (see `rich.py`) keeps
per-message metadata; `to_released` drops it, `to_rich` recovers what the released form still says
(whether the first message was noised, from `initial_query`).
"""
from __future__ import annotations

import dataclasses
import json
from typing import Any

from personax.data.fields import Fields, RecordError
from personax.data.rich import (ROLES, NoiseRecord, QueryRecord, RichMessage, RichRecord,
                                check_alternation, persona_from)

__all__ = ["Turn", "ReleasedRecord", "RichRecord", "RichMessage", "NoiseRecord", "QueryRecord",
           "RecordError", "Fields", "to_released", "to_rich", "dumps"]


@dataclasses.dataclass(frozen=True)
class Turn:
    role: str  # "user" | "assistant"
    content: str


@dataclasses.dataclass(frozen=True)
class ReleasedRecord:
    id: str
    persona_id: str
    persona: dict[str, str]
    original_query: str
    initial_query: str  # clean, styled
    full_conversation: tuple[Turn, ...]  # user messages as sent (noisy ones included)
    distractor_type: str | None = None
    conversation_ended: bool = True

    @property
    def num_turns(self) -> int:
        return sum(t.role == "assistant" for t in self.full_conversation)

    @property
    def role_utterances(self) -> dict[str, list[str]]:
        return {r: [t.content for t in self.full_conversation if t.role == r] for r in ROLES}

    @classmethod
    def from_json(cls, f: Fields) -> "ReleasedRecord":
        turns = []
        for item in f.items("full_conversation", nonempty=True):
            turns.append(Turn(role=item.text("role"), content=item.text("content")))
        check_alternation([t.role for t in turns], f, "full_conversation")
        rec = cls(id=f.text("id", nonempty=True), persona_id=f.text("persona_id", nonempty=True),
                  persona=persona_from(f, "persona"), original_query=f.text("original_query"),
                  initial_query=f.text("initial_query", nonempty=True),
                  full_conversation=tuple(turns),
                  distractor_type=f.text("distractor_type", optional=True),
                  conversation_ended=f.get("conversation_ended", bool))
        if f.get("num_turns", int) != rec.num_turns:
            raise f.error("num_turns", f"expected {rec.num_turns} (the assistant replies), "
                          f"got {f.obj['num_turns']}")
        utter = f.sub("role_utterances")
        for role in ROLES:
            if utter.strings(role) != rec.role_utterances[role]:
                raise utter.error(role, f"expected the {role} messages of full_conversation")
        return rec

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "persona_id": self.persona_id, "persona": dict(self.persona),
                "original_query": self.original_query, "initial_query": self.initial_query,
                "full_conversation": [dataclasses.asdict(t) for t in self.full_conversation],
                "role_utterances": self.role_utterances, "num_turns": self.num_turns,
                "distractor_type": self.distractor_type,
                "conversation_ended": self.conversation_ended}


def to_released(rec: RichRecord) -> ReleasedRecord:
    return ReleasedRecord(
        id=rec.sample_id, persona_id=rec.persona_id, persona=dict(rec.persona),
        original_query=rec.original_query, initial_query=rec.initial_query,
        full_conversation=tuple(Turn(m.role, m.content) for m in rec.messages),
        distractor_type=rec.distractor_type, conversation_ended=rec.conversation_ended)


def to_rich(rec: ReleasedRecord) -> RichRecord:
    """Clean versions of follow-ups are not in the released form: left unknown (None)."""
    messages = []
    for i, t in enumerate(rec.full_conversation):
        turn = i // 2
        if t.role == "user" and turn == 0:
            messages.append(RichMessage("user", t.content, turn, clean_version=rec.initial_query,
                                        was_noised=t.content != rec.initial_query))
        else:
            messages.append(RichMessage(t.role, t.content, turn))
    return RichRecord(sample_id=rec.id, persona_id=rec.persona_id, persona=dict(rec.persona),
                      original_query=rec.original_query, initial_query=rec.initial_query,
                      messages=tuple(messages), conversation_ended=rec.conversation_ended,
                      distractor_type=rec.distractor_type)


def dumps(rec: ReleasedRecord | RichRecord) -> str:
    """One JSONL line (no newline), UTF-8 text kept as is."""
    return json.dumps(rec.to_json(), ensure_ascii=False)
