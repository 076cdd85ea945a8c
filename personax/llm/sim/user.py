"""Sim user: style transfer of a seed into the persona's voice, and the user simulator.

Cues come from world.json; each trait is voiced with its `express_prob`, so a single message
reveals little and a profile has to be assembled across sessions.
"""
from __future__ import annotations

import random
from typing import Sequence

from data_gen.roles import AdaptedQuery, UserReaction
from data_gen.seeds import QUERY_WORDS, SeedQuery
from personax.llm.base import Message
from personax.llm.sim.rng import derive
from personax.llm.sim.text import content_phrases, sentence
from personax.llm.sim.world import World, expressed_cues, load_world


def pick_cues(world: World, persona: dict[str, str], dims: Sequence[str], scale: float,
              rng: random.Random) -> tuple[list[str], list[str]]:
    """(opener cues, inline cues) for the traits in `dims` that fire this time."""
    available = expressed_cues(world, persona)
    openers, inline = [], []
    for dim in dims:
        trait = world.traits[dim]
        if dim in available and rng.random() < trait.express_prob * scale:
            (openers if trait.position == "opener" else inline).append(rng.choice(available[dim]))
    return openers, inline


def compose(openers: list[str], body: str, inline: list[str]) -> str:
    return " ".join([*openers, body, *(sentence(c) for c in inline)]).strip()


def pad(text: str, target_words: int, fillers: Sequence[str], rng: random.Random) -> str:
    """Adds context sentences until the message is about as long as this user writes."""
    pool = rng.sample(list(fillers), len(fillers))
    while len(text.split()) < target_words and pool:
        text += " " + pool.pop()
    return text


def followup_words(persona: dict[str, str], rng: random.Random) -> int:
    """Follow-ups run from the bottom to the middle of the user's query-length band."""
    lo, hi = QUERY_WORDS.get(persona.get("query_length_pref", ""), QUERY_WORDS["short"])
    return rng.randint(lo, (lo + hi) // 2)


def _known(value: str, allowed: Sequence[str], fallback: str) -> str:
    """The seed's own label when the bank has it (seeds from files may carry none)."""
    if value in allowed:
        return value
    return fallback if fallback in allowed else allowed[0]


class SimStyleTransfer:
    def __init__(self, seed: int = 0, express_scale: float = 1.0, world: World | None = None):
        self.seed, self.scale, self.world = seed, express_scale, world or load_world()

    async def adapt(self, persona: dict[str, str], seed: SeedQuery, mode: str, target_words: int,
                    domains: Sequence[str], scenarios: Sequence[str], key: str) -> AdaptedQuery:
        rng = derive(self.seed, "style", key)
        dims = sorted(expressed_cues(self.world, persona))
        if mode == "partial":
            dims = rng.sample(dims, min(len(dims), rng.randint(2, 4)))
        openers, inline = pick_cues(self.world, persona, dims, self.scale, rng)
        text = pad(compose(openers, seed.text, inline), target_words, self.world["user"]["fillers"], rng)
        return AdaptedQuery(text, _known(seed.domain, domains, "general"), _known(seed.scenario, scenarios, "casual"))


class SimUserSimulator:
    def __init__(self, seed: int = 0, express_scale: float = 1.0, world: World | None = None):
        self.seed, self.scale, self.world = seed, express_scale, world or load_world()

    def _unusable(self, answer: str) -> bool:
        return any(answer.startswith(u) for u in self.world["assistant"]["unusable"])

    async def react(self, persona: dict[str, str], seed: SeedQuery, conversation: Sequence[Message],
                    turns_done: int, target_turns: int, max_turns: int, key: str) -> UserReaction:
        rng = derive(self.seed, "user", key)
        cfg = self.world["user"]
        slot = rng.choice(seed.slots or content_phrases(seed.text) or ["this"])
        words = followup_words(persona, rng)
        if self._unusable(conversation[-1].content) and turns_done < max_turns:
            return UserReaction(False, pad(rng.choice(cfg["restate"]).format(slot=slot), words, cfg["fillers"], rng))
        if turns_done >= target_turns:
            return UserReaction(True, None)
        openers, inline = pick_cues(self.world, persona, sorted(expressed_cues(self.world, persona)),
                                    self.scale * cfg["followup_cue_scale"], rng)
        body = compose(openers, rng.choice(cfg["followups"]).format(slot=slot), inline)
        return UserReaction(False, pad(body, words, cfg["fillers"], rng))
