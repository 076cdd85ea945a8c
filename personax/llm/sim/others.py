"""Sim `others` resolver: a new value for a dimension from world.json's candidate list."""
from __future__ import annotations

from personax.llm.sim.rng import derive
from personax.llm.sim.world import World, load_world


class SimOthersResolver:
    def __init__(self, seed: int = 0, world: World | None = None):
        self.seed, self.world = seed, world or load_world()

    async def resolve(self, dim: str, description: str, taken: list[str], persona: dict[str, str], key: str) -> str:
        rng = derive(self.seed, "others", key)
        free = [v for v in self.world["others"].get(dim, []) if v not in taken]
        if not free:
            raise ValueError(f"sim others-resolver: world.json has no unused candidate for {dim!r}")
        return rng.choice(free)
