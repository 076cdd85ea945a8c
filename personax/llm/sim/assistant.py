"""Sim assistant: a generic answer that never looks at the persona (it is never given one)."""
from __future__ import annotations

from typing import Sequence

from personax.llm.base import Message
from personax.llm.sim.rng import derive
from personax.llm.sim.text import content_phrases, topic
from personax.llm.sim.world import World, load_world


class SimAssistant:
    def __init__(self, seed: int = 0, world: World | None = None):
        self.seed, self.world = seed, world or load_world()

    async def reply(self, model: str, conversation: Sequence[Message], key: str) -> str:
        rng = derive(self.seed, "assistant", model, key)
        cfg = self.world["assistant"]
        if rng.random() < cfg["unusable_prob"]:
            return rng.choice(cfg["unusable"])
        about = " and ".join(content_phrases(conversation[-1].content, limit=2)) or topic(conversation[-1].content)
        points = rng.sample(cfg["points"], 3)
        lines = [rng.choice(cfg["openers"]).format(topic=about)]
        lines += [f"{i}. {p}" for i, p in enumerate(points, 1)]
        lines.append(rng.choice(cfg["closers"]))
        return "\n".join(lines)
