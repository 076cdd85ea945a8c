"""Privileged teacher: SFT labels written with the true persona in view (SPEC §1.7).

`Teacher` is the protocol every teacher implements (the LLM teacher here, the sim teacher in
`personax/llm/sim/`). Labels become SFT targets through `label_examples`.
"""
from __future__ import annotations

import asyncio
import dataclasses
import inspect
import re
from typing import Protocol, Sequence

from personax.data.examples import PPOptExample
from personax.data.policy_io import format_target
from personax.llm.base import ChatClient, ChatRequest, Message
from personax.llm.json_output import chat_json


@dataclasses.dataclass(frozen=True)
class TeacherLabel:
    reasoning: str  # a profile that reads as inferred from the history
    optimized_query: str


class Teacher(Protocol):
    def label(self, persona: dict[str, str], history_texts: list[str], query: str) -> TeacherLabel: ...


_SYSTEM = (
    "You write training targets for a model that personalizes a user's query from the user's past "
    "conversations. You are shown the user's true traits; the model being trained will not see "
    "them. Look in the past conversations for evidence of each trait (wording, explicit requests, "
    "follow-ups, what the user corrected). Write the reasoning as an analysis of the history that "
    "arrives at those traits, citing the evidence, as if you had inferred them yourself: never "
    "mention a persona, a profile you were given, or known traits. Traits with no evidence may be "
    "stated as tentative. Then rewrite the current query into one precise prompt for a general "
    "assistant that keeps the user's task intact and states the preferences (format, length, "
    "depth, tone, examples, citations, ...) the answer should follow. Reply with JSON only: "
    '{"reasoning": "...", "optimized_query": "..."}')

# Phrases that give away the privileged view; a label containing one is rejected.
_LEAKS = re.compile(r"\bpersona\b|\b(given|provided|true|known) (profile|traits?)\b|"
                    r"\bground[- ]truth\b", re.I)


def teacher_messages(persona: dict[str, str], history_texts: Sequence[str], query: str
                     ) -> tuple[Message, ...]:
    traits = "\n".join(f"- {k}: {v}" for k, v in sorted(persona.items()))
    sessions = "\n\n".join(f"### Conversation {i}\n{t}" for i, t in enumerate(history_texts, 1))
    user = (f"True traits of the user:\n{traits}\n\nPast conversations (assistant replies "
            f"omitted):\n\n{sessions}\n\nCurrent query:\n{query}")
    return (Message("system", _SYSTEM), Message("user", user))


LABEL_SCHEMA = {"reasoning": str, "optimized_query": str}


def check_label(obj: dict[str, str]) -> TeacherLabel:
    """The teacher's reply as a label; ValueError says what is wrong (shown to it on a retry)."""
    values = {}
    for key in LABEL_SCHEMA:
        value = obj.get(key)
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"field {key!r} must be a non-empty string")
        values[key] = value.strip()
    leak = _LEAKS.search(values["reasoning"])
    if leak:
        raise ValueError(f"the reasoning says {leak.group(0)!r}; write it as inferred from the "
                         f"history, with no mention of a persona or given traits")
    return TeacherLabel(**values)


@dataclasses.dataclass
class LLMTeacher:
    client: ChatClient
    model: str
    temperature: float = 0.7

    async def alabel(self, persona: dict[str, str], history_texts: Sequence[str], query: str
                     ) -> TeacherLabel:
        request = ChatRequest(messages=teacher_messages(persona, history_texts, query),
                              model=self.model, temperature=self.temperature, module="teacher")
        # chat_json repairs malformed JSON once; a well-formed label that breaks the content rules
        # (empty, or giving away the privileged view) gets one more round of its own.
        obj, reply = await chat_json(self.client, request, LABEL_SCHEMA)
        try:
            return check_label(obj)
        except ValueError as problem:
            retry = dataclasses.replace(request, messages=request.messages + (
                Message("assistant", reply.text),
                Message("user", f"Not usable: {problem}. Reply again with the JSON only.")))
            return check_label((await chat_json(self.client, retry, LABEL_SCHEMA))[0])

    def label(self, persona: dict[str, str], history_texts: list[str], query: str) -> TeacherLabel:
        return asyncio.run(self.alabel(persona, history_texts, query))


async def _label_all(teacher: Teacher, examples: Sequence[PPOptExample], concurrency: int
                     ) -> list[TeacherLabel]:
    gate = asyncio.Semaphore(concurrency)

    async def one(e: PPOptExample) -> TeacherLabel:
        async with gate:
            return await teacher.alabel(e.persona, list(e.history_texts), e.original_query)

    return list(await asyncio.gather(*(one(e) for e in examples)))


def label_examples(teacher: Teacher, examples: Sequence[PPOptExample], concurrency: int = 8
                   ) -> list[PPOptExample]:
    """Examples with SFT targets; async teachers (with `alabel`) run `concurrency` at a time."""
    if inspect.iscoroutinefunction(getattr(teacher, "alabel", None)):
        labels = asyncio.run(_label_all(teacher, examples, concurrency))
    else:
        labels = [teacher.label(e.persona, list(e.history_texts), e.original_query)
                  for e in examples]
    return [dataclasses.replace(e, output=format_target(l.reasoning, l.optimized_query))
            for e, l in zip(examples, labels)]
