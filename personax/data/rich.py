"""The rich PersonaAtlas form: per-message metadata, noise records, query record.

Its JSON is the authors' TrainingSample layout (``train_samples.json``), extended with a per-message
``metadata.noise_record`` and a conversation-level ``metadata.query``; the authors' files load as
they are (their noise records sit in the conversation metadata and are attached to the messages).
"""
from __future__ import annotations

import dataclasses
from typing import Any

from personax.data.fields import Fields, RecordError

ROLES = ("user", "assistant")
# The reference's YAML read '18_24' as the integer 1824; map such values back to the bank's strings.
_YAML_INT_VALUES = {"age_band": ("18_24", "25_34", "35_44", "45_60")}


def persona_from(f: Fields, key: str) -> dict[str, str]:
    raw = f.get(key, dict)
    persona = {}
    for name, value in raw.items():
        if isinstance(value, int) and not isinstance(value, bool):
            fixed = [v for v in _YAML_INT_VALUES.get(name, ()) if v.replace("_", "") == str(value)]
            if fixed:
                value = fixed[0]
        if not isinstance(value, str):
            raise RecordError(f.where, f"{f.path(key)}.{name}",
                              f"expected a string, got {type(value).__name__}")
        persona[name] = value
    return persona


@dataclasses.dataclass(frozen=True)
class NoiseRecord:
    """What the distractor did to one user message (layer_index 0 = not noised)."""

    original_text: str
    noisy_text: str
    layer: str  # "skipped" | "surface_noise" | "incomplete_info" | "semantic_ambiguity"
    layer_index: int
    applied_strategies: tuple[str, ...] = ()
    extracted_semantics: dict[str, Any] | None = None  # {intent, slots, compressed_text, ...}
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_json(cls, f: Fields) -> "NoiseRecord":
        return cls(original_text=f.text("original_text"), noisy_text=f.text("noisy_text"),
                   layer=f.text("layer"), layer_index=f.get("layer_index", int),
                   applied_strategies=tuple(f.strings("applied_strategies", optional=True)),
                   extracted_semantics=f.get("extracted_semantics", dict, optional=True),
                   metadata=f.get("metadata", dict, optional=True, default={}))

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["applied_strategies"] = list(self.applied_strategies)
        return d


@dataclasses.dataclass(frozen=True)
class RichMessage:
    role: str  # "user" | "assistant"
    content: str  # as sent: the noisy text when the message was noised
    turn: int
    clean_version: str | None = None  # user messages
    was_noised: bool = False
    noise: NoiseRecord | None = None
    model: str | None = None  # assistant messages
    provider: str | None = None

    @classmethod
    def from_json(cls, f: Fields, fallback_noise: Fields | None = None) -> "RichMessage":
        role = f.text("role")
        if role not in ROLES:
            raise f.error("role", f"expected one of {ROLES}, got {role!r}")
        md = f.section("metadata")
        noise = md.sub("noise_record", optional=True) or fallback_noise
        return cls(role=role, content=f.text("content"), turn=md.get("turn", int),
                   clean_version=md.text("clean_version", optional=True),
                   was_noised=md.get("was_noised", bool, optional=True, default=False),
                   noise=NoiseRecord.from_json(noise) if noise else None,
                   model=md.text("model", optional=True), provider=md.text("provider", optional=True))

    def to_json(self) -> dict[str, Any]:
        md: dict[str, Any] = {"turn": self.turn}
        if self.role == "user":
            md["is_initial" if self.turn == 0 else "is_followup"] = True
            if self.clean_version is not None:
                md["clean_version"] = self.clean_version
            md["was_noised"] = self.was_noised
            if self.noise is not None:
                md["noise_record"] = self.noise.to_json()
        else:
            md.update({k: v for k, v in (("model", self.model), ("provider", self.provider)) if v})
        return {"role": self.role, "content": self.content, "metadata": md}


@dataclasses.dataclass(frozen=True)
class QueryRecord:
    """Where the conversation's query came from and what the simulator aimed for."""

    seed_id: str
    source: str
    prompt_type: str  # "full" | "partial" style transfer
    target_turns: int
    target_length: str  # the persona's query_length_pref bucket

    @classmethod
    def from_json(cls, f: Fields) -> "QueryRecord":
        return cls(seed_id=f.text("seed_id"), source=f.text("source"),
                   prompt_type=f.text("prompt_type"), target_turns=f.get("target_turns", int),
                   target_length=f.text("target_length"))

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _authors_noise(md: Fields) -> dict[int, Fields]:
    """The authors keep noise records in the conversation metadata: {user turn: record}."""
    found: dict[int, Fields] = {}
    initial = md.section("semantic_noise").sub("initial_query", optional=True)
    if initial is not None:
        found[0] = initial
    for item in md.section("noisy_versions").items("followups", optional=True):
        record = item.sub("semantic_noise", optional=True)
        if record is not None:
            found[item.get("turn", int)] = record
    return found


def check_alternation(roles: list[str], f: Fields, key: str) -> None:
    """Conversations start with the user and alternate; the history renderer relies on it."""
    if not roles:
        raise f.error(key, "expected a non-empty conversation")
    for i, role in enumerate(roles):
        if role != ROLES[i % 2]:
            raise RecordError(f.where, f"{f.path(key)}[{i}].role",
                              f"expected {ROLES[i % 2]!r} (turns alternate, user first), got {role!r}")


_LIFTED = ("created_at", "conversation_ended", "distractor_type", "assistant_model", "query",
           "total_messages")


@dataclasses.dataclass(frozen=True)
class RichRecord:
    sample_id: str
    persona_id: str
    persona: dict[str, str]
    original_query: str  # the seed query before style transfer
    initial_query: str  # clean, styled first user message
    messages: tuple[RichMessage, ...]
    conversation_ended: bool = True
    distractor_type: str | None = None
    assistant_model: str | None = None
    assistant_provider: str | None = None
    query: QueryRecord | None = None
    created_at: str | None = None
    # The authors' other conversation metadata (noisy_versions, ...), kept so nothing is lost.
    extra_metadata: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def num_turns(self) -> int:
        return sum(m.role == "assistant" for m in self.messages)

    @classmethod
    def from_json(cls, f: Fields) -> "RichRecord":
        md = f.section("metadata")
        noise = _authors_noise(md)
        messages = []
        for item in f.items("full_conversation", nonempty=True):
            turn = item.section("metadata").get("turn", int, optional=True)
            fallback = noise.get(turn) if item.obj.get("role") == "user" else None
            messages.append(RichMessage.from_json(item, fallback))
        check_alternation([m.role for m in messages], f, "full_conversation")
        assistant, query = md.section("assistant_model"), md.sub("query", optional=True)
        rec = cls(sample_id=f.text("sample_id", nonempty=True),
                  persona_id=f.text("persona_id", nonempty=True),
                  persona=persona_from(f, "persona_features"),
                  original_query=f.text("original_query"),
                  initial_query=f.text("initial_query", nonempty=True),
                  messages=tuple(messages),
                  conversation_ended=md.get("conversation_ended", bool, optional=True, default=True),
                  distractor_type=md.text("distractor_type", optional=True),
                  assistant_model=assistant.text("model", optional=True),
                  assistant_provider=assistant.text("provider", optional=True),
                  query=QueryRecord.from_json(query) if query else None,
                  created_at=md.text("created_at", optional=True),
                  extra_metadata={k: v for k, v in md.obj.items() if k not in _LIFTED})
        if f.has("num_turns") and f.get("num_turns", int) != rec.num_turns:
            raise f.error("num_turns", f"expected {rec.num_turns} (the assistant replies), "
                          f"got {f.obj['num_turns']}")
        first_clean = messages[0].clean_version
        if first_clean is not None and first_clean != rec.initial_query:
            raise f.error("initial_query", "expected the clean version of the first message")
        users = [m.content for m in messages if m.role == "user"]
        if f.has("prompt_trajectory") and f.strings("prompt_trajectory") != users:
            raise f.error("prompt_trajectory", "expected the user messages of full_conversation")
        return rec

    def to_json(self) -> dict[str, Any]:
        md: dict[str, Any] = dict(self.extra_metadata)
        md.update(created_at=self.created_at, total_messages=len(self.messages),
                  conversation_ended=self.conversation_ended, distractor_type=self.distractor_type)
        if self.assistant_model or self.assistant_provider:
            md["assistant_model"] = {"provider": self.assistant_provider, "model": self.assistant_model}
        if self.query is not None:
            md["query"] = self.query.to_json()
        return {"sample_id": self.sample_id, "persona_id": self.persona_id,
                "persona_features": dict(self.persona), "original_query": self.original_query,
                "initial_query": self.initial_query,
                "prompt_trajectory": [m.content for m in self.messages if m.role == "user"],
                "full_conversation": [m.to_json() for m in self.messages],
                "num_turns": self.num_turns, "metadata": md}
