"""The PersonaGym roles. Each has an LLM implementation (`data_gen/llm_roles.py`) and a
procedural one (`personax/llm/sim/`); the generator only sees these interfaces.

`key` is a stable name for the call, "<conversation id>#<attempt>/<step>": sim roles seed their
randomness from it, so results do not depend on scheduling order; hosted roles send the attempt
as the request's sample_index, so a retried conversation is not answered from the cache with the
reply that failed, while a resumed one is.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Protocol, Sequence

from data_gen.seeds import SeedQuery
from personax.llm.base import Message


def call_key(conv_id: str, attempt: int, step: str) -> str:
    return f"{conv_id}#{attempt}/{step}"


def attempt_of(key: str) -> int:
    head = key.rsplit("/", 1)[0]
    return int(head.rsplit("#", 1)[1]) if "#" in head else 0


@dataclasses.dataclass(frozen=True)
class AdaptedQuery:
    text: str
    domain: str
    scenario: str


@dataclasses.dataclass(frozen=True)
class UserReaction:
    satisfied: bool
    feedback: str | None


class StyleTransfer(Protocol):
    async def adapt(self, persona: dict[str, str], seed: SeedQuery, mode: str, target_words: int,
                    domains: Sequence[str], scenarios: Sequence[str], key: str) -> AdaptedQuery: ...


class UserSimulator(Protocol):
    async def react(self, persona: dict[str, str], seed: SeedQuery, conversation: Sequence[Message],
                    turns_done: int, target_turns: int, max_turns: int, key: str) -> UserReaction: ...


class Assistant(Protocol):
    """Never shown the persona: it only gets the conversation."""

    async def reply(self, model: str, conversation: Sequence[Message], key: str) -> str: ...


class Distractor(Protocol):
    """The two model-dependent steps of semantic noise; gate and layer choice live in distractor.py."""

    async def extract(self, text: str, key: str) -> dict[str, Any]: ...

    async def rewrite(self, text: str, semantics: dict[str, Any], layer: str, strategies: Sequence[str],
                      persona: dict[str, str], key: str) -> str: ...


class OthersResolver(Protocol):
    async def resolve(self, dim: str, description: str, taken: list[str], persona: dict[str, str], key: str) -> str: ...


@dataclasses.dataclass(frozen=True)
class Roles:
    style: StyleTransfer
    user: UserSimulator
    assistant: Assistant
    distractor: Distractor
    others: OthersResolver
