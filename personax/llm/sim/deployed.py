"""Sim deployed LLM: follows the explicit instructions its prompt carries and otherwise answers
generically, covering only the request content the prompt still holds.

What it responds to is read from world.json: every trait's instruction phrasings (followed with
that phrasing's `reliability`) and the user's own explicit cues ("keep it brief", followed with
`cue_reliability`). A followed trait shows as `Trait.marker(value)` in the answer, which is what the
sim judges check. Implicit cues (age, seniority, ...) are hints, not asks: never followed.
"""
from __future__ import annotations

import dataclasses
import functools
import random
import re
from typing import Callable

from data_gen.bank import OTHERS, load_bank
from personax.llm.sim.rng import derive
from personax.llm.sim.text import STOPWORDS
from personax.llm.sim.world import World, load_world

FILLER = ""  # the dim of a span that is the user's filler sentence, not a trait
WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'\-+#]*")
CLAUSE_BREAK = re.compile(r"[.?!;:,()\n]+")


@functools.lru_cache(maxsize=None)
def _bank_values(dim: str) -> tuple[str, ...]:
    bank = load_bank().dimensions.get(dim)
    return tuple(v for v in (bank.values if bank else ()) if v != OTHERS)


def trait_values(world: World, dim: str) -> tuple[str, ...]:
    """The values a dimension can take: the persona bank's plus world.json's `others` candidates."""
    values = _bank_values(dim)
    return values + tuple(v for v in world["others"].get(dim, []) if v not in values)


@dataclasses.dataclass(frozen=True)
class Ask:
    dim: str  # FILLER for filler sentences
    value: str
    reliability: float  # 0: recognised (and removed from the task text) but never followed
    start: int
    end: int


def phrase_pattern(text: str) -> re.Pattern:
    """Whole words, any case, any whitespace between them; a final period is optional."""
    words = text.strip().rstrip(".").split()
    return re.compile(r"(?<!\w)" + r"\s+".join(map(re.escape, words)) + r"(?!\w)", re.I)


class Scanner:
    """Finds the world's instruction phrasings, user cues and filler sentences in a text."""

    def __init__(self, world: World, cue_reliability: float = 0.5):
        if not 0.0 <= cue_reliability <= 1.0:
            raise ValueError(f"cue_reliability must be in [0, 1], got {cue_reliability}")
        self.world = world
        entries: dict[str, tuple[str, str, float]] = {}
        for dim, trait in world.traits.items():
            follows_cues = trait.kind == "explicit"
            for value in trait_values(world, dim):
                for cue in trait.cues_for(value):
                    entries.setdefault(cue.lower(), (dim, value, cue_reliability if follows_cues else 0.0))
                for instruction in trait.instructions_for(value):
                    entries[instruction.text.lower()] = (dim, value, instruction.reliability)
        for filler in world["user"]["fillers"]:
            entries.setdefault(filler.lower(), (FILLER, "", 0.0))
        # Keyed by the longest word: a plain substring test skips most regexes for a given text.
        self._patterns = [(max(text.split(), key=len).strip(".,!?:;"), phrase_pattern(text), *meaning)
                          for text, meaning in entries.items()]

    def scan(self, text: str) -> list[Ask]:
        """Every outermost match, in text order (a match inside a longer one is that one's part)."""
        lowered = text.lower()
        found = [Ask(dim, value, rel, m.start(), m.end())
                 for first, pattern, dim, value, rel in self._patterns if first in lowered
                 for m in pattern.finditer(text)]
        return outermost(found)


def outermost(found: list[Ask]) -> list[Ask]:
    """The matches not inside a longer one, in text order."""
    def inside(a: Ask, b: Ask) -> bool:
        return b.start <= a.start and a.end <= b.end and b.end - b.start > a.end - a.start
    return sorted((a for a in found if not any(inside(a, b) for b in found)), key=lambda a: a.start)


def strip_spans(text: str, asks: list[Ask]) -> str:
    """The text with every matched span cut out; a cut is a clause break, so no phrase spans it."""
    out, pos = [], 0
    for ask in asks:
        if ask.start >= pos:
            out += [text[pos:ask.start], "\n"]
            pos = ask.end
    return "".join(out + [text[pos:]])


def content_runs(text: str) -> list[str]:
    """Runs of consecutive non-stopwords within a clause: the request's content phrases."""
    runs: list[str] = []
    for clause in CLAUSE_BREAK.split(text):
        current: list[str] = []
        for token in [*WORD.findall(clause), "the"]:  # the sentinel stopword closes the last run
            if token.lower() not in STOPWORDS:
                current.append(token)
                continue
            run = " ".join(current)
            if len(run) > 3 and run.lower() not in {r.lower() for r in runs}:
                runs.append(run)
            current = []
    return runs


def best_asks(asks: list[Ask]) -> dict[str, Ask]:
    """dim -> the ask the model weighs for it: the most reliable (the earliest on a tie); fillers left out."""
    best: dict[str, Ask] = {}
    for ask in asks:
        if ask.dim != FILLER and (ask.dim not in best or ask.reliability > best[ask.dim].reliability):
            best[ask.dim] = ask
    return best


def followed_traits(asks: list[Ask], rng_for: Callable[[str], random.Random]) -> dict[str, str]:
    """dim -> value for each trait the model follows: `rng_for(dim)` decides with the reliability
    of that dim's best ask."""
    return {dim: a.value for dim, a in sorted(best_asks(asks).items()) if rng_for(dim).random() < a.reliability}


class SimDeployed:
    def __init__(self, seed: int = 0, world: World | None = None, cue_reliability: float = 0.5):
        self.seed, self.world = seed, world or load_world()
        self.scanner = Scanner(self.world, cue_reliability)

    def follow_odds(self, prompt: str) -> dict[str, Ask]:
        """dim -> the ask this prompt makes for it; the model follows it with `ask.reliability`."""
        return best_asks(self.scanner.scan(prompt))

    async def answer(self, prompt: str, sample_index: int = 0) -> str:
        asks = self.scanner.scan(prompt)
        followed = followed_traits(asks, lambda dim: derive(self.seed, "deployed", sample_index, prompt, dim))
        runs = content_runs(strip_spans(prompt, asks))
        rng = derive(self.seed, "deployed", sample_index, prompt)
        cfg = self.world["assistant"]
        lines = [rng.choice(cfg["openers"]).format(topic=" and ".join(runs[:2]) or "your request")]
        if runs:
            lines.append("Covering: " + "; ".join(runs) + ".")
        lines += [f"{i}. {p}" for i, p in enumerate(rng.sample(cfg["points"], 3), 1)]
        if followed:
            lines.append("Tailored: " + " ".join(self.world.traits[d].marker(v) for d, v in followed.items()))
        lines.append(rng.choice(cfg["closers"]))
        return "\n".join(lines)
