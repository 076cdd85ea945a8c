"""The 17 noise strategies (SPEC §1.5), applied procedurally; phrase pools live in world.json.

Each strategy maps (text, context) -> text. Surface strategies keep intent and slots; the
incomplete-info ones damage slots; the ambiguity ones blur the intent.
"""
from __future__ import annotations

import dataclasses
import random
import re
from typing import Any, Callable


@dataclasses.dataclass(frozen=True)
class NoiseContext:
    rng: random.Random
    slots: tuple[str, ...]
    pools: dict[str, Any]  # world.json "noise"
    register: str  # "formal" | "casual"

    def pick(self, strategy: str) -> str:
        pool = self.pools[strategy]
        return self.rng.choice(pool[self.register] if isinstance(pool, dict) else pool)


Strategy = Callable[[str, NoiseContext], str]
STRATEGIES: dict[str, Strategy] = {}


def strategy(name: str) -> Callable[[Strategy], Strategy]:
    def register(fn: Strategy) -> Strategy:
        STRATEGIES[name] = fn
        return fn
    return register


def _word_positions(text: str, ctx: NoiseContext, min_len: int = 5) -> list[re.Match]:
    """Long words outside the slots, so surface noise leaves the slots readable."""
    protected = [(m.start(), m.end()) for s in ctx.slots for m in re.finditer(re.escape(s), text)]
    return [m for m in re.finditer(r"[A-Za-z]{%d,}" % min_len, text)
            if not any(a <= m.start() < b for a, b in protected)]


def _replace_slot(text: str, ctx: NoiseContext, replacement: str) -> str:
    present = [s for s in ctx.slots if s in text]
    if not present:
        return text
    return text.replace(ctx.rng.choice(present), replacement, 1)


def _insert(text: str, ctx: NoiseContext, addition: str) -> str:
    parts = re.split(r"(?<=[.?!])\s+", text)
    at = ctx.rng.randint(1, len(parts))
    return " ".join(parts[:at] + [addition] + parts[at:])


@strategy("colloquial_speech")
def colloquial_speech(text: str, ctx: NoiseContext) -> str:
    text = re.sub(r"\b(Could|Can) you\b", "can u" if ctx.register == "casual" else r"\1 you perhaps", text, count=1)
    spots = _word_positions(text, ctx)
    if not spots:
        return text + " " + ctx.pick("colloquial_speech")
    m = ctx.rng.choice(spots)
    return text[:m.start()] + ctx.pick("colloquial_speech") + " " + text[m.start():]


@strategy("incomplete_sentence")
def incomplete_sentence(text: str, ctx: NoiseContext) -> str:
    text = re.sub(r"^(I|I'd|I'm|Please|Could you|Can you)\s+", "", text, count=1)
    tail = text.rstrip(".?! ")
    words = tail.split()
    keep = max(3, len(words) - ctx.rng.randint(1, 3))
    cut = " ".join(words[:keep])
    # Do not cut a slot in half: fall back to dropping only the end punctuation.
    return (cut if all(s in cut for s in ctx.slots if s in tail) else tail) + "..."


@strategy("typo_misspelling")
def typo_misspelling(text: str, ctx: NoiseContext) -> str:
    spots = _word_positions(text, ctx)
    for m in sorted(ctx.rng.sample(spots, min(len(spots), ctx.rng.randint(1, 3))), key=lambda m: -m.start()):
        w, i = m.group(), ctx.rng.randint(1, len(m.group()) - 2)
        text = text[:m.start()] + w[:i] + w[i + 1] + w[i] + w[i + 2:] + text[m.end():]
    return text


@strategy("word_segmentation")
def word_segmentation(text: str, ctx: NoiseContext) -> str:
    spots = _word_positions(text, ctx, min_len=7)
    if not spots:
        return text.replace(" ", "", 1)
    m = ctx.rng.choice(spots)
    i = ctx.rng.randint(3, len(m.group()) - 3)
    return text[:m.start()] + m.group()[:i] + " " + m.group()[i:] + text[m.end():]


@strategy("punctuation_format")
def punctuation_format(text: str, ctx: NoiseContext) -> str:
    stripped = re.sub(r"[,;:]", "", text)
    return stripped.rstrip(".?!") + ctx.rng.choice(["??", "!!", "", " ..."])


@strategy("synonym_rewrite")
def synonym_rewrite(text: str, ctx: NoiseContext) -> str:
    table = ctx.pools["synonyms"]
    hits = [w for w in table if re.search(rf"\b{w}\b", text, re.IGNORECASE)]
    if not hits:
        return text
    for w in ctx.rng.sample(hits, min(2, len(hits))):
        text = re.sub(rf"\b{w}\b", table[w], text, count=1, flags=re.IGNORECASE)
    return text


@strategy("emotional_attitude")
def emotional_attitude(text: str, ctx: NoiseContext) -> str:
    return _insert(text, ctx, ctx.pick("emotional_attitude"))


@strategy("negative_expression")
def negative_expression(text: str, ctx: NoiseContext) -> str:
    return _insert(text, ctx, ctx.pick("negative_expression"))


@strategy("real_life_fragments")
def real_life_fragments(text: str, ctx: NoiseContext) -> str:
    return _insert(text, ctx, ctx.pick("real_life_fragments"))


@strategy("missing_slots")
def missing_slots(text: str, ctx: NoiseContext) -> str:
    return re.sub(r"\s{2,}", " ", _replace_slot(text, ctx, "")).strip()


@strategy("vague_slot_values")
def vague_slot_values(text: str, ctx: NoiseContext) -> str:
    return _replace_slot(text, ctx, ctx.pick("vague_slot_values"))


@strategy("context_dependency")
def context_dependency(text: str, ctx: NoiseContext) -> str:
    return _replace_slot(text, ctx, ctx.pick("context_dependency"))


@strategy("unclear_priority")
def unclear_priority(text: str, ctx: NoiseContext) -> str:
    slot = ctx.rng.choice(ctx.slots) if ctx.slots else "the rest"
    return text.rstrip(".?! ") + ", " + ctx.pick("unclear_priority").format(slot=slot) + "."


@strategy("multi_intent")
def multi_intent(text: str, ctx: NoiseContext) -> str:
    return text + " " + ctx.pick("multi_intent")


@strategy("intent_ambiguity")
def intent_ambiguity(text: str, ctx: NoiseContext) -> str:
    return text.rstrip(".?! ") + ", " + ctx.pick("intent_ambiguity") + "."


@strategy("self_contradiction")
def self_contradiction(text: str, ctx: NoiseContext) -> str:
    return text + " Oh and " + ctx.pick("self_contradiction") + "."


@strategy("mind_changing")
def mind_changing(text: str, ctx: NoiseContext) -> str:
    return _insert(text, ctx, ctx.pick("mind_changing").capitalize() + ".")


def apply(text: str, strategies: list[str] | tuple[str, ...], ctx: NoiseContext) -> str:
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown:
        raise KeyError(f"unknown noise strategies {unknown}; known: {sorted(STRATEGIES)}")
    for name in strategies:
        text = STRATEGIES[name](text, ctx)
    return text
