"""Persona sampling (SPEC §1.2): availability draw, bound, constraints, `others`, diversity."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import re

from data_gen.bank import OTHERS, BankError, PersonaBank, is_snake_value
from data_gen.roles import OthersResolver, call_key
from personax.llm.sim.rng import derive


@dataclasses.dataclass(frozen=True)
class SamplerConfig:
    feature_availability_rate: float = 0.7
    num_features: int = 15
    min_constraints: int = 5
    always: tuple[str, ...] = ("query_length_pref",)
    # Attached per conversation from the adapted query, so never sampled.
    attached: tuple[str, ...] = ("domain", "scenario")
    min_hamming: int = 3
    max_attempts: int = 50


@dataclasses.dataclass(frozen=True)
class Persona:
    id: str
    features: dict[str, str]


def persona_id(features: dict[str, str]) -> str:
    blob = json.dumps(sorted(features.items()), ensure_ascii=False)
    return "persona_" + hashlib.sha256(blob.encode("utf-8")).hexdigest()[:12]


def hamming(a: dict[str, str], b: dict[str, str]) -> int:
    """Keys in the union whose values differ; a key missing on one side counts."""
    return sum(a.get(k) != b.get(k) for k in set(a) | set(b))


def propose(bank: PersonaBank, cfg: SamplerConfig, rng: random.Random) -> dict[str, str]:
    pool = [n for n in bank.names if n not in cfg.attached]
    dims = bank.dimensions
    chosen = [n for n in pool if not dims[n].is_constraint and n not in cfg.always
              and rng.random() < cfg.feature_availability_rate]
    if len(chosen) < cfg.num_features:
        rest = [n for n in pool if n not in chosen]
        chosen += rng.sample(rest, cfg.num_features - len(chosen))
    elif len(chosen) > cfg.num_features:
        chosen = rng.sample(chosen, cfg.num_features)
    chosen += [n for n in cfg.always if n not in chosen]
    have = sum(dims[n].is_constraint for n in chosen)
    if have < cfg.min_constraints:
        missing = [n for n in pool if dims[n].is_constraint and n not in chosen]
        chosen += rng.sample(missing, min(len(missing), cfg.min_constraints - have))
    picked = set(chosen)
    return {n: rng.choice(dims[n].values) for n in bank.names if n in picked}


def clean_others_value(raw: str, dim: str, bank: PersonaBank) -> str:
    value = re.sub(r"[^a-z0-9]+", "_", raw.strip().lower()).strip("_")
    if not is_snake_value(value) or value in bank.dimensions[dim].values:
        raise BankError(f"others-resolver for {dim!r} returned {raw!r}: need a new snake_case value of 1-3 words")
    return value


async def resolve_others(features: dict[str, str], bank: PersonaBank, resolver: OthersResolver,
                         key: str, tries: int = 3) -> dict[str, str]:
    out = dict(features)
    for dim, value in features.items():
        if value != OTHERS:
            continue
        d = bank.dimensions[dim]
        for attempt in range(tries):
            try:
                raw = await resolver.resolve(dim, d.description, [v for v in d.values if v != OTHERS], out,
                                             call_key(key, attempt, dim))
                out[dim] = clean_others_value(raw, dim, bank)
                break
            except ValueError:  # an unusable value (or reply): ask again, then give up loudly
                if attempt == tries - 1:
                    raise
    return out


async def sample_personas(bank: PersonaBank, cfg: SamplerConfig, count: int, seed: int,
                          resolver: OthersResolver) -> list[Persona]:
    """`count` personas, each ≥ `min_hamming` from all earlier ones (best effort after max_attempts)."""
    accepted: list[Persona] = []
    for index in range(count):
        features: dict[str, str] = {}
        for attempt in range(cfg.max_attempts):
            key = f"persona/{index}/{attempt}"
            features = await resolve_others(propose(bank, cfg, derive(seed, key)), bank, resolver, key)
            if all(hamming(features, p.features) >= cfg.min_hamming for p in accepted):
                break
        # After max_attempts the reference keeps the last draw; so do we, so `count` always holds.
        accepted.append(Persona(persona_id(features), features))
    return accepted
