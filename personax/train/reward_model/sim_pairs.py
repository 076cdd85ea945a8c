"""Preference pairs made offline in the sim world (sim world only): for each PPOpt example, a set
of candidate rewrites of its query, answered by the sim deployed model and ordered by the exact
sim judges (task share + personalization share of the answer, averaged over `samples` draws).

Candidates: the original query (`copy`), the sim teacher's rewrite (`teacher`), every true trait
asked for in its most reliable phrasing (`oracle`), every other true trait only (`partial`), a
wrong value asked for each trait (`wrong`), and the oracle's asks without the request (`no_task`).
"""
from __future__ import annotations

import asyncio
import collections
import dataclasses
import itertools
from typing import Sequence

from personax.data.examples import PPOptExample
from personax.data.policy_io import parse_output
from personax.llm.sim.deployed import SimDeployed, trait_values
from personax.llm.sim.judges import SimJudges
from personax.llm.sim.teacher import SimTeacher
from personax.llm.sim.text import sentence
from personax.llm.sim.world import World
from personax.rewards.sim_check import oracle_completion
from personax.train.reward_model.pairs import PreferencePair


def _asks(world: World, persona: dict[str, str], wrong: bool = False) -> list[str]:
    out = []
    for dim, value in sorted(persona.items()):
        trait = world.traits.get(dim)
        if trait is None or not trait.instructions:
            continue
        if wrong:
            value = next((v for v in trait_values(world, dim) if v != value and trait.instructions_for(v)), None)
        options = trait.instructions_for(value) if value is not None else ()
        if options:
            out.append(options[0].text)
    return out


def candidates(example: PPOptExample, world: World, teacher: SimTeacher) -> dict[str, str]:
    query = example.original_query.strip()
    asks = _asks(world, example.persona)
    oracle = parse_output(oracle_completion(world, example), query).prompt
    found = {
        "copy": query,
        "teacher": teacher.label(example.persona, list(example.history_texts), query).optimized_query,
        "oracle": oracle,
        "partial": " ".join([sentence(query), *asks[1::2]]),
        "wrong": " ".join([sentence(query), *_asks(world, example.persona, wrong=True)]),
        "no_task": " ".join(asks),
    }
    unique: dict[str, str] = {}  # text -> first name: a candidate equal to an earlier one adds no pair
    for name, text in found.items():
        if text.strip():
            unique.setdefault(text, name)
    return {name: text for text, name in unique.items()}


@dataclasses.dataclass
class SimPairStats:
    examples: int = 0
    skipped: int = 0  # examples the sim judges cannot grade (no gradable trait or no request content)
    pairs: int = 0
    chosen: collections.Counter = dataclasses.field(default_factory=collections.Counter)  # candidate name -> wins


async def _scores(example: PPOptExample, texts: dict[str, str], deployed: SimDeployed, judges: SimJudges,
                  samples: int) -> dict[str, float]:
    async def one(text: str) -> float:
        answers = [await deployed.answer(text, k) for k in range(samples)]
        return sum(judges.task_share(example.original_query, a) + judges.personalization_share(example.persona, a)
                   for a in answers) / samples

    values = await asyncio.gather(*(one(t) for t in texts.values()))
    return dict(zip(texts, values))


def build_sim_pairs(examples: Sequence[PPOptExample], seed: int = 0, samples: int = 2, min_gap: float = 0.1,
                    cue_reliability: float = 0.5) -> tuple[list[PreferencePair], SimPairStats]:
    """Every pair of distinct candidates whose scores differ by at least `min_gap` (scores are in
    [0, 2]), the better one chosen."""
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    judges = SimJudges()
    world = judges.world
    deployed, teacher = SimDeployed(seed=seed, world=world, cue_reliability=cue_reliability), SimTeacher(seed, world)
    pairs, stats = [], SimPairStats(examples=len(examples))
    for example in examples:
        texts = candidates(example, world, teacher)
        try:
            scores = asyncio.run(_scores(example, texts, deployed, judges, samples))
        except ValueError:  # the sim judges name what is missing; such an example has no ground truth to order by
            stats.skipped += 1
            continue
        for a, b in itertools.combinations(texts, 2):
            gap = scores[a] - scores[b]
            if abs(gap) < min_gap:
                continue
            win, lose = (a, b) if gap > 0 else (b, a)
            pairs.append(PreferencePair(example.input, texts[win], texts[lose], f"{example.state_id}/{win}>{lose}",
                                        round(abs(gap), 6)))
            stats.chosen[win] += 1
    stats.pairs = len(pairs)
    return pairs, stats
