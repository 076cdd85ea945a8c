"""Semantic-aware noise (SPEC §1.5): gate, extraction, one layer by weight, strategies, rewrite.

The random choices are procedural and shared by every backend; only extraction and the rewrite
go through the `Distractor` role.
"""
from __future__ import annotations

import dataclasses
import random
from typing import Any

from data_gen.roles import Distractor
from personax.data.records import NoiseRecord
from personax.llm.sim.rng import derive, weighted_choice

DEFAULT_LAYERS: dict[str, dict[str, Any]] = {
    "surface_noise": {"index": 1, "weight": 0.5, "strategies": {
        "colloquial_speech": 0.4, "incomplete_sentence": 0.3, "typo_misspelling": 0.25,
        "word_segmentation": 0.15, "punctuation_format": 0.4, "synonym_rewrite": 0.5,
        "emotional_attitude": 0.3, "negative_expression": 0.4, "real_life_fragments": 0.2}},
    "incomplete_info": {"index": 2, "weight": 0.3, "strategies": {
        "missing_slots": 0.5, "vague_slot_values": 0.6, "context_dependency": 0.6, "unclear_priority": 0.7}},
    "semantic_ambiguity": {"index": 3, "weight": 0.2, "strategies": {
        "multi_intent": 0.6, "intent_ambiguity": 0.5, "self_contradiction": 0.7, "mind_changing": 0.4}},
}


@dataclasses.dataclass(frozen=True)
class DistractorConfig:
    rate: float = 0.25
    layers: dict[str, dict[str, Any]] = dataclasses.field(default_factory=lambda: DEFAULT_LAYERS)


def choose(cfg: DistractorConfig, rng: random.Random) -> tuple[str, tuple[str, ...]]:
    """One layer by weight; its strategies each by probability, or one uniformly if none fired."""
    layer = weighted_choice(rng, {name: spec["weight"] for name, spec in cfg.layers.items()})
    probs = cfg.layers[layer]["strategies"]
    fired = tuple(s for s, p in probs.items() if rng.random() < p)
    return layer, fired or (rng.choice(list(probs)),)


async def noise_message(text: str, persona: dict[str, str], role: Distractor, cfg: DistractorConfig,
                        seed: int, key: str) -> NoiseRecord:
    rng = derive(seed, "noise-gate", key)
    if rng.random() >= cfg.rate:
        return NoiseRecord(text, text, "skipped", 0, (), None, {"reason": "activation_probability_check_failed"})
    semantics = await role.extract(text, key)
    layer, strategies = choose(cfg, rng)
    noisy = await role.rewrite(text, semantics, layer, strategies, persona, key)
    return NoiseRecord(text, noisy, layer, int(cfg.layers[layer]["index"]), strategies, semantics)
