"""Sim distractor: crude intent/slot extraction and procedural rewriting with the 17 strategies."""
from __future__ import annotations

from typing import Any, Sequence

from personax.llm.sim import noise
from personax.llm.sim.rng import derive
from personax.llm.sim.text import content_phrases
from personax.llm.sim.world import World, load_world


class SimDistractor:
    def __init__(self, seed: int = 0, world: World | None = None):
        self.seed, self.world = seed, world or load_world()

    async def extract(self, text: str, key: str) -> dict[str, Any]:
        slots = content_phrases(text)
        intent = " ".join(text.split()[:3]).lower().strip(".,?!")
        return {"intent": intent, "slots": slots, "compressed_text": f"{intent}: {'; '.join(slots)}"}

    async def rewrite(self, text: str, semantics: dict[str, Any], layer: str, strategies: Sequence[str],
                      persona: dict[str, str], key: str) -> str:
        ctx = noise.NoiseContext(derive(self.seed, "distractor", key), tuple(semantics.get("slots", ())),
                                 self.world["noise"], self.world.register(persona))
        return noise.apply(text, list(strategies), ctx)
