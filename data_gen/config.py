"""The PersonaGym config shared by `configs/datagen/*.py` (which override what they change)."""
from __future__ import annotations

import ml_collections

from data_gen.distractor import DEFAULT_LAYERS
from personax.llm.config import role_config

SIM_ASSISTANT_POOL = (("sim-assistant-a", 0.5), ("sim-assistant-b", 0.3), ("sim-assistant-c", 0.2))


def role(backend: str = "sim", provider: str = "sim", **hosted: object) -> ml_collections.ConfigDict:
    """One role: D1's hosted settings plus which backend runs it and a provider label."""
    cfg = role_config(**hosted)
    cfg.backend = backend
    cfg.provider = provider
    return cfg


def base_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.num_personas = 50
    c.conversations_per_persona = 5
    c.sampler = dict(feature_availability_rate=0.7, num_features=15, min_constraints=5,
                     min_hamming=3, max_attempts=50)
    # "builtin", "jsonl:PATH[:TEXT_FIELD]" or "tfds:NAME:SPLIT:TEXT_FIELD[:LIMIT[:DATA_DIR]]"
    c.seed_sources = ("builtin",)
    c.turns = dict(mean=3.0, std=0.5, min=2, max=5)
    c.full_transfer_prob = 0.5
    c.distractor = dict(rate=0.25, layers=DEFAULT_LAYERS)
    c.concurrency = 8  # conversations in flight; hosted roles bound their own HTTP calls too
    c.conversation_retries = 3
    c.supplement_rounds = 3
    c.shard_index = 0
    c.num_shards = 1
    c.sim = dict(express_scale=1.0, latency_s=0.0)
    c.progress = True
    c.roles = dict(style=role(), user=role(), assistant=role(models=SIM_ASSISTANT_POOL),
                   distractor=role(), others=role())
    return c
