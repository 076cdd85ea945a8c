"""Judges (SPEC §2.3, §2.4): the interface, and its LLM implementation over any ChatClient.

Scores are floats on the judge's scale, NaN when the call failed or the reply could not be read;
`stats` counts calls, unparseable replies and failed calls per judge. The sim implementation is
`personax.llm.sim.judges.SimJudges`.
"""
from __future__ import annotations

import collections
import logging
import math
import re
import warnings
from typing import Any, Mapping, Protocol

from personax.eval import judges_prompts as P
from personax.llm.base import ChatClient, ChatRequest, Message
from personax.llm.deployed import CALL_FAILURES
from personax.llm.json_output import JSONOutputError, chat_json

log = logging.getLogger(__name__)

SCALES = {"profile": (1.0, 5.0), "personalization": (1.0, 10.0), "task_completion": (1.0, 10.0)}
WINNERS = ("A", "B", "tie")
_LEADING_NUMBER = re.compile(r"\s*(\d+(?:\.\d+)?)")
_TIE_WORDS = {"tie", "draw", "equal", "neither", "both", "same"}


class Judges(Protocol):
    stats: collections.Counter

    async def profile(self, profile: str, persona: Mapping[str, str]) -> float: ...

    async def pairwise(self, persona: Mapping[str, str], query: str, answer_a: str, answer_b: str) -> str | None: ...

    async def personalization(self, persona: Mapping[str, str], query: str, answer: str) -> float: ...

    async def task_completion(self, query: str, answer: str) -> float: ...


def parse_score(value: Any, lo: float, hi: float) -> float | None:
    """A number in [lo, hi] from a JSON value: 7, 7.0, "7", "7/10"; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        match = _LEADING_NUMBER.match(value)
        value = float(match.group(1)) if match else None
    if not isinstance(value, (int, float)) or not lo <= value <= hi:
        return None
    return float(value)


def parse_winner(value: Any) -> str | None:
    """"A", "B" or "tie" from "a", "Answer B", "[[A]]", "Tie."; None otherwise."""
    if not isinstance(value, str):
        return None
    text = re.sub(r"[^a-z ]", " ", value.lower()).split()
    text = [w for w in text if w not in {"answer", "response", "option"}]
    if len(text) != 1:
        return None
    word = text[0]
    return "A" if word == "a" else "B" if word == "b" else "tie" if word in _TIE_WORDS else None


async def counted_json_call(client: ChatClient, request: ChatRequest, schema: Mapping[str, Any], json_mode: bool,
                            stats: collections.Counter, name: str, label: str) -> dict | None:
    """One judge call expecting a JSON object with `schema`'s keys. Counts `name/calls`, and
    `name/unparseable` or `name/failed` (logged under `label`) when it returns None instead of a reply."""
    stats[f"{name}/calls"] += 1
    try:
        reply, _ = await chat_json(client, request, schema, json_mode=json_mode)
    except JSONOutputError as err:
        stats[f"{name}/unparseable"] += 1
        log.warning("%s: unparseable reply: %s", label, err)
        return None
    except CALL_FAILURES as err:
        stats[f"{name}/failed"] += 1
        log.warning("%s: call failed: %s", label, err)
        return None
    return reply


class LLMJudges:
    def __init__(self, client: ChatClient, model: str, *, deployed_model: str | None = None,
                 json_mode: bool = True, max_tokens: int | None = None):
        if deployed_model is not None and model == deployed_model:
            message = (f"the judge model {model!r} is also the deployed model: it will tend to prefer its "
                       "own answers; use a different judge model (SPEC §2.4)")
            warnings.warn(message, UserWarning, stacklevel=2)
            log.warning(message)
        self.client, self.model, self.json_mode, self.max_tokens = client, model, json_mode, max_tokens
        self.stats: collections.Counter = collections.Counter()

    async def _ask(self, judge: str, system: str, user: str, key: str) -> Any:
        """The value of `key` in the judge's JSON reply; None when the call failed or no JSON came."""
        request = ChatRequest(messages=(Message("system", system), Message("user", user)), model=self.model,
                              temperature=0.0, max_tokens=self.max_tokens, module=f"judge_{judge}")
        reply = await counted_json_call(self.client, request, {key: (str, int, float)}, self.json_mode,
                                        self.stats, judge, f"{judge} judge")
        return None if reply is None else reply[key]

    async def _score(self, judge: str, system: str, user: str) -> float:
        value = await self._ask(judge, system, user, "score")
        if value is None:
            return math.nan
        score = parse_score(value, *SCALES[judge])
        if score is None:
            self.stats[f"{judge}/unparseable"] += 1
            log.warning("%s judge: score %r is not a number in %s", judge, value, SCALES[judge])
            return math.nan
        return score

    async def profile(self, profile: str, persona: Mapping[str, str]) -> float:
        return await self._score("profile", P.PROFILE_SYSTEM, P.profile_user(profile, persona))

    async def personalization(self, persona: Mapping[str, str], query: str, answer: str) -> float:
        return await self._score("personalization", P.PERSONALIZATION_SYSTEM,
                                 P.personalization_user(persona, query, answer))

    async def task_completion(self, query: str, answer: str) -> float:
        return await self._score("task_completion", P.TASK_SYSTEM, P.task_user(query, answer))

    async def pairwise(self, persona: Mapping[str, str], query: str, answer_a: str, answer_b: str) -> str | None:
        value = await self._ask("pairwise", P.PAIRWISE_SYSTEM, P.pairwise_user(persona, query, answer_a, answer_b),
                                "winner")
        if value is None:
            return None
        winner = parse_winner(value)
        if winner is None:
            self.stats["pairwise/unparseable"] += 1
            log.warning("pairwise judge: winner %r is not one of %s", value, WINNERS)
        return winner
