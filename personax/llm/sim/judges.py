"""Sim judges: exact scores against the sim world's ground truth.

- personalization: which of the persona's constraint traits the answer's markers satisfy; a marker
  with a different value for such a trait contradicts it and cancels one satisfied trait;
- expected personalization: the same count in expectation over the deployed model's follow draws,
  read from the prompt's asks and their reliabilities instead of one sampled answer;
- task: the share of the original request's content phrases the answer covers (the request's
  filler sentences, cues and a leading one-word verb are not content);
- profile: which of the persona's traits the profile names as "label: phrase"; a wrong value
  named cancels a right one, so listing every value earns nothing.
The shares are exact in [0, 1]; the 1..5 and 1..10 judge scales map them linearly.
"""
from __future__ import annotations

import collections
import re
from typing import Mapping

from data_gen.bank import load_bank
from personax.llm.sim.deployed import (CLAUSE_BREAK, WORD, Ask, Scanner, content_runs, outermost, phrase_pattern,
                                       strip_spans, trait_values)
from personax.llm.sim.world import World, load_world

_MARKER = re.compile(r"\(([^():]+): ([^()]*)\)")


def _tokens(text: str) -> str:
    return " ".join(t.lower() for t in WORD.findall(text))


def covers(answer: str, phrase: str) -> bool:
    """The phrase's words appear in order, adjacent, inside one clause of the answer."""
    wanted = f" {_tokens(phrase)} "
    return any(wanted in f" {_tokens(clause)} " for clause in CLAUSE_BREAK.split(answer))


def request_content(scanner: Scanner, query: str) -> list[str]:
    runs = content_runs(strip_spans(query, scanner.scan(query)))
    if len(runs) > 1 and len(runs[0].split()) == 1:
        runs = runs[1:]  # the imperative verb ("Write", "Summarize") is the intent, not content
    return runs


def _net_share(right: int, wrong: int, total: int) -> float:
    return max(0, right - wrong) / total


class SimJudges:
    """Implements the judge interface of `personax.eval.judges` with exact sim-world scores."""

    def __init__(self, world: World | None = None):
        self.world = world or load_world()
        self.scanner = Scanner(self.world)
        self.stats: collections.Counter = collections.Counter()  # nothing fails to parse here
        bank_constraints = set(load_bank().constraint_names)
        self.constraint_dims = frozenset(d for d, t in self.world.traits.items()
                                         if d in bank_constraints and t.instructions)
        self._dim_of_label = {t.label.lower(): d for d, t in self.world.traits.items()}
        self._claims = {(d, v): self._claim_pattern(d, v)
                        for d in self.world.traits for v in trait_values(self.world, d)}

    def _claim_pattern(self, dim: str, value: str) -> re.Pattern:
        trait = self.world.traits[dim]
        return phrase_pattern(f"{trait.label}: {trait.phrase(value)}")

    def _claims_in(self, profile: str, persona: dict[str, str]) -> set[tuple[str, str]]:
        """(dim, value) of every outermost "label: phrase" (a label may end another: "message length")."""
        patterns = dict(self._claims)
        for dim in persona.keys() & self.world.traits.keys():  # a value resolved outside the known lists
            patterns.setdefault((dim, persona[dim]), self._claim_pattern(dim, persona[dim]))
        found = [Ask(d, v, 1.0, m.start(), m.end()) for (d, v), p in patterns.items() for m in p.finditer(profile)]
        return {(a.dim, a.value) for a in outermost(found)}

    def gradable(self, persona: dict[str, str]) -> list[str]:
        gradable = sorted(d for d in persona if d in self.constraint_dims)
        if not gradable:
            raise ValueError(f"sim personalization judge: persona has none of the gradable constraint "
                             f"traits {sorted(self.constraint_dims)}; got dims {sorted(persona)}")
        return gradable

    def same_phrase(self, dim: str, value: str, truth: str) -> bool:
        phrase = self.world.traits[dim].phrase
        return phrase(value).lower() == phrase(truth).lower()

    def personalization_share(self, persona: dict[str, str], answer: str) -> float:
        gradable = self.gradable(persona)
        right = wrong = 0
        for label, phrase in {(m[0].strip().lower(), m[1].strip().lower()) for m in _MARKER.findall(answer)}:
            dim = self._dim_of_label.get(label)
            if dim in gradable:
                if phrase == self.world.traits[dim].phrase(persona[dim]).lower():
                    right += 1
                else:
                    wrong += 1
        return _net_share(right, wrong, len(gradable))

    def expected_personalization_share(self, persona: dict[str, str], asks: Mapping[str, Ask]) -> float:
        """E[right − wrong] / #gradable over the follow draws, where `asks` maps dim -> the ask the
        sim deployed model weighs (`SimDeployed.follow_odds`): a right value adds its reliability, a
        wrong one subtracts it. In [−1, 1]; unlike the sampled share there is no floor at 0, so a
        wrong instruction costs even when nothing right is asked."""
        gradable = self.gradable(persona)
        net = sum(ask.reliability * (1 if self.same_phrase(dim, ask.value, persona[dim]) else -1)
                  for dim, ask in asks.items() if dim in gradable)
        return net / len(gradable)

    def task_share(self, query: str, answer: str) -> float:
        content = request_content(self.scanner, query)
        if not content:
            raise ValueError(f"sim task judge: no content phrases in the query {query[:80]!r}")
        return sum(covers(answer, p) for p in content) / len(content)

    def profile_share(self, profile: str, persona: dict[str, str]) -> float:
        named = [d for d in persona if d in self.world.traits]
        if not named:
            raise ValueError(f"sim profile judge: persona has no trait the sim world knows; dims {sorted(persona)}")
        claims = self._claims_in(profile, persona)
        right = sum(persona.get(d) == v for d, v in claims)
        return _net_share(right, len(claims) - right, len(named))

    async def profile(self, profile: str, persona: dict[str, str]) -> float:
        return 1.0 + 4.0 * self.profile_share(profile, persona)

    async def personalization(self, persona: dict[str, str], query: str, answer: str) -> float:
        return 1.0 + 9.0 * self.personalization_share(persona, answer)

    async def task_completion(self, query: str, answer: str) -> float:
        return 1.0 + 9.0 * self.task_share(query, answer)

    async def pairwise(self, persona: dict[str, str], query: str, answer_a: str, answer_b: str) -> str:
        """Task coverage first; equal coverage goes to the better-personalized answer."""
        a, b = ((self.task_share(query, x), self.personalization_share(persona, x)) for x in (answer_a, answer_b))
        a, b = tuple(round(x, 9) for x in a), tuple(round(x, 9) for x in b)
        return "A" if a > b else "B" if b > a else "tie"
