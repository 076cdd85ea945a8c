"""PrefEval's four checks of a free-form answer, by an LLM judge over any ChatClient.

An answer follows the user's preference only when it does not violate it, acknowledges it, does not
hallucinate a preference, and helps with the question. Each check is its own judge call; a check that
failed or came back unreadable is None and counted, never guessed. `follows` is decided by the checks
that did come back when they already settle it (one failed check), else None.
"""
from __future__ import annotations

import asyncio
import collections
import logging
import re
from typing import Any

from personax.eval.judges import counted_json_call
from personax.llm.base import ChatClient, ChatRequest, Message

log = logging.getLogger(__name__)

_REPLY = 'Reply with JSON only: {"reasoning": "<one or two sentences>", "verdict": "yes" | "no"}'
# check name -> (question for the judge, the verdict that passes)
CHECKS: dict[str, tuple[str, bool]] = {
    "violates": ("Does the answer go against the user's preference? It does when it recommends, suggests or "
                 "relies on something the preference rules out, or ignores a limit the preference sets. An "
                 "answer that keeps to the preference, or never comes near it, does not.", False),
    "acknowledges": ("Does the answer show that it knows the user's preference? It does when it mentions the "
                     "preference, refers back to it, or says that its suggestions were chosen with it in mind. "
                     "Fitting the preference silently, with no sign of it, does not count.", True),
    "hallucinates": ("Does the answer credit the user with a preference they did not state, or misstate the one "
                     "they did (turn it around, narrow or widen it, add details)? An answer that refers to no "
                     "preference at all does not.", False),
    "helpful": ("Does the answer actually help with the question, with relevant and usable suggestions or "
                "information? Refusing, only asking questions back, going off-topic or saying nothing of use "
                "is not helping.", True),
}
_PREAMBLE = ("You check one property of an assistant's answer to a user who stated a preference earlier and then "
             "asked a question. Judge the answer as written; do not rewrite it.")
SYSTEMS = {name: f"{_PREAMBLE}\n{question}\n{_REPLY}" for name, (question, _) in CHECKS.items()}
_YES = {"yes", "y", "true"}
_NO = {"no", "n", "false"}


def parse_verdict(value: Any) -> bool | None:
    """True / False from "yes", "No.", true, "[[YES]]"; None for anything else ("maybe", "yes and no")."""
    if isinstance(value, bool):
        return value
    if not isinstance(value, str):
        return None
    words = re.sub(r"[^a-z ]", " ", value.lower()).split()
    if len(words) != 1:
        return None
    return True if words[0] in _YES else False if words[0] in _NO else None


def judge_user(preference: str, question: str, answer: str) -> str:
    return (f"The user's preference:\n{preference.strip()}\n\nThe user's question:\n{question.strip()}\n\n"
            f"[Answer]\n{answer.strip()}\n[End of answer]")


def follows(checks: dict[str, bool | None]) -> bool | None:
    passed = [None if v is None else v == CHECKS[name][1] for name, v in checks.items()]
    if False in passed:
        return False
    return None if None in passed else True


class FourCheckJudge:
    def __init__(self, client: ChatClient, model: str, *, json_mode: bool = True, max_tokens: int | None = None):
        self.client, self.model, self.json_mode, self.max_tokens = client, model, json_mode, max_tokens
        self.stats: collections.Counter = collections.Counter()

    async def _check(self, name: str, user: str) -> bool | None:
        request = ChatRequest(messages=(Message("system", SYSTEMS[name]),
                                        Message("user", user)), model=self.model, temperature=0.0,
                              max_tokens=self.max_tokens, module=f"prefeval_{name}")
        reply = await counted_json_call(self.client, request, {"verdict": (str, bool)}, self.json_mode,
                                        self.stats, name, f"prefeval {name} judge")
        if reply is None:
            return None
        verdict = parse_verdict(reply["verdict"])
        if verdict is None:
            self.stats[f"{name}/unparseable"] += 1
            log.warning("prefeval %s judge: verdict %r is neither yes nor no", name, reply["verdict"])
        return verdict

    async def judge(self, preference: str, question: str, answer: str) -> dict:
        """{"checks": {name: bool | None}, "follows": bool | None}."""
        user = judge_user(preference, question, answer)
        verdicts = await asyncio.gather(*(self._check(name, user) for name in CHECKS))
        checks = dict(zip(CHECKS, verdicts))
        return {"checks": checks, "follows": follows(checks)}
