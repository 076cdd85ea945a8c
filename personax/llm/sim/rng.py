"""Seeded randomness keyed by name, so a result never depends on scheduling order."""
from __future__ import annotations

import hashlib
import random


def derive(seed: int, *keys: object) -> random.Random:
    """An independent generator for (seed, *keys): same keys, same stream, in any process."""
    material = "\x1f".join([str(seed), *map(str, keys)]).encode("utf-8")
    return random.Random(int.from_bytes(hashlib.sha256(material).digest()[:8], "big"))


def weighted_choice(rng: random.Random, weights: dict[str, float]) -> str:
    names = list(weights)
    return rng.choices(names, weights=[weights[n] for n in names], k=1)[0]
