"""Sim privileged teacher (D3's `Teacher` protocol): finds the true traits that the history
evidences (a cue from world.json appears in it), names them as if inferred, and rewrites the
query into one concise prompt: the request without the user's filler sentences (world.json
`user.fillers`, which carry no content), then an explicit instruction per trait.

With `reads_query` (off by default) the current query is evidence too, read after the history, as
the hosted teacher is asked to do (it sees the query and states every preference the answer should
follow): a cue the user writes in the query ("I need references for this", followed by the sim
deployed model at `cue_reliability`) also gets its explicit instruction in the rewrite. Without it
only the history is read and the query's own cues stay as the user wrote them.

The reasoning quotes the evidence before the inference it supports (`they wrote "keep it brief",
so length: brief`), in the order the cues appear in the history: a policy imitating it copies a
span it can see, then maps it, instead of naming a trait first and inventing its support.

Imperfect on purpose, like an LLM teacher: each evidenced trait is missed with `miss_prob`, and
with `weak_phrasing_prob` a less reliable phrasing is used (world.json ranks the phrasings by
how reliably the sim deployed model follows them). With `best_of` K > 1 it draws K labels and keeps
the one whose rewrite the sim deployed model would follow best for the true persona (the expected
personalization share, `SimJudges.expected_personalization_share`; the first draw on ties): rejection
sampling of the teacher against a privileged score, so fewer visible traits go unnamed in the targets.
"""
from __future__ import annotations

import re
import statistics

from personax.data.teacher import TeacherLabel
from personax.llm.sim.rng import derive
from personax.llm.sim.world import World, expressed_cues, load_world
from personax.llm.sim.text import sentence

# Upper word bound of each query_length_pref band (SPEC §1.1); "long" takes the rest.
BAND_LIMITS = (("very_short", 20), ("short", 40), ("medium", 80))


def evidence(world: World, persona: dict[str, str], history_texts: list[str]) -> dict[str, str]:
    """dim -> the earliest cue of the persona's value in the history (case-insensitive), as the
    history spells it; the dims in the order their cues first appear."""
    history = "\n".join(history_texts)
    lowered = history.lower()
    found = {}
    for dim, cues in expressed_cues(world, persona).items():
        hits = [(start, len(c)) for c in cues if (start := lowered.find(c.lower())) >= 0]
        if hits:
            found[dim] = min(hits)
    return {dim: history[start:start + size] for dim, (start, size) in sorted(found.items(), key=lambda kv: kv[1][0])}


def without_fillers(world: World, text: str) -> str:
    """The text minus its sentences that are the world's filler sentences (whole, any case)."""
    fillers = {f.lower() for f in world["user"]["fillers"]}
    kept = [s for s in re.split(r"(?<=[.?!])\s+", text.strip()) if s.lower() not in fillers]
    return " ".join(kept) or text.strip()


def message_length_band(history_texts: list[str]) -> str | None:
    """The query_length_pref band of the median user message in the history."""
    lengths = [len(line[len("User: "):].split()) for text in history_texts
               for line in text.splitlines() if line.startswith("User: ")]
    if not lengths:
        return None
    median = statistics.median(lengths)
    return next((band for band, hi in BAND_LIMITS if median <= hi), "long")


class SimTeacher:
    def __init__(self, seed: int = 0, world: World | None = None, miss_prob: float | None = None,
                 weak_phrasing_prob: float | None = None, best_of: int = 1, reads_query: bool = False):
        if best_of < 1:
            raise ValueError(f"best_of must be >= 1, got {best_of}")
        self.seed, self.world, self.best_of, self.reads_query = seed, world or load_world(), best_of, reads_query
        cfg = self.world["teacher"]
        self.miss_prob = cfg["miss_prob"] if miss_prob is None else miss_prob
        self.weak_prob = cfg["weak_phrasing_prob"] if weak_phrasing_prob is None else weak_phrasing_prob
        self.max_traits = cfg["max_traits"]
        if best_of > 1:
            from personax.llm.sim.deployed import SimDeployed
            from personax.llm.sim.judges import SimJudges
            self._deployed, self._judges = SimDeployed(seed, self.world), SimJudges(self.world)

    def label(self, persona: dict[str, str], history_texts: list[str], query: str) -> TeacherLabel:
        labels = [self.draw(persona, history_texts, query, i) for i in range(self.best_of)]
        if len(labels) == 1:
            return labels[0]
        return max(labels, key=lambda label: self._judges.expected_personalization_share(
            persona, self._deployed.follow_odds(label.optimized_query)))

    def draw(self, persona: dict[str, str], history_texts: list[str], query: str, index: int = 0) -> TeacherLabel:
        """One label; each `index` has its own misses and phrasings (index 0: the single-draw label)."""
        keys = ("teacher", query) if index == 0 else ("teacher", index, query)
        rng = derive(self.seed, *keys, *history_texts)
        found = evidence(self.world, persona, [*history_texts, query] if self.reads_query else history_texts)
        kept = [d for d in found if rng.random() >= self.miss_prob][: self.max_traits]
        notes, instructions = [], []
        for dim in kept:
            trait, value = self.world.traits[dim], persona[dim]
            notes.append(f"they wrote \"{found[dim]}\", so {trait.label}: {trait.phrase(value)}")
            options = trait.instructions_for(value)
            if options:
                weak = len(options) > 1 and rng.random() < self.weak_prob
                instructions.append(rng.choice(options[1:]).text if weak else options[0].text)
        band = message_length_band(history_texts)
        if band is not None and band == persona.get("query_length_pref"):
            notes.append(f"{self.world.traits['query_length_pref'].label}: {band.replace('_', ' ')} messages")
        cfg = self.world["teacher"]
        reasoning = f"{cfg['reasoning_open']} " + "; ".join(notes) + "." if notes else cfg["reasoning_none"]
        request = without_fillers(self.world, query)
        rewrite = " ".join([sentence(request), *instructions]) if instructions else request
        return TeacherLabel(reasoning=reasoning, optimized_query=rewrite)
