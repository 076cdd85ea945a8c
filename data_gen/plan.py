"""What a run will generate: personas (persisted once), seed assignment, per-conversation plans,
and the persona range of this shard. All of it is a function of the config and its seed."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import pathlib

import ml_collections

from data_gen.bank import PersonaBank
from data_gen.personas import Persona, SamplerConfig, sample_personas
from data_gen.roles import OthersResolver
from data_gen.seeds import SeedQuery, target_turns, target_words
from data_gen.simulate import ConversationPlan
from personax.llm import atomic
from personax.llm.pool import ModelPool
from personax.llm.sim.rng import derive


class PlanError(ValueError):
    """The workdir or config cannot produce the requested run."""


def fingerprint(cfg: ml_collections.ConfigDict, bank: PersonaBank) -> str:
    blob = json.dumps({"seed": cfg.seed, "num_personas": cfg.num_personas, "sampler": cfg.sampler.to_dict(),
                       "bank": {n: dataclasses.asdict(d) for n, d in bank.dimensions.items()}}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


async def load_or_sample_personas(cfg: ml_collections.ConfigDict, bank: PersonaBank, resolver: OthersResolver,
                                  path: pathlib.Path) -> list[Persona]:
    """Sampled once per workdir (the `others` values may have cost LLM calls); reruns reuse them."""
    fp = fingerprint(cfg, bank)
    if path.exists():
        saved = json.loads(path.read_text(encoding="utf-8"))
        if saved.get("fingerprint") != fp:
            raise PlanError(f"{path} was written by a run with a different seed, persona count, sampler or "
                            "bank; use a new --workdir or restore the original config")
        return [Persona(p["id"], p["features"]) for p in saved["personas"]]
    personas = await sample_personas(bank, SamplerConfig(**cfg.sampler.to_dict()), cfg.num_personas, cfg.seed, resolver)
    atomic.write_json(path, {"fingerprint": fp, "personas": [dataclasses.asdict(p) for p in personas]}, indent=1)
    return personas


def shard_range(num: int, shard_index: int, num_shards: int) -> range:
    if not 0 <= shard_index < num_shards:
        raise PlanError(f"shard_index must be in [0, {num_shards}), got {shard_index}")
    return range(num * shard_index // num_shards, num * (shard_index + 1) // num_shards)


@dataclasses.dataclass(frozen=True)
class SeedAssignment:
    per_persona: dict[str, list[SeedQuery]]  # this shard's personas
    supplements: list[SeedQuery]  # this shard's share of the unassigned seeds


def assign_seeds(cfg: ml_collections.ConfigDict, personas: list[Persona], seeds: list[SeedQuery]) -> SeedAssignment:
    """Each seed is used at most once in the whole run, across shards too."""
    k = cfg.conversations_per_persona
    if len(seeds) < k * len(personas):
        raise PlanError(f"{len(personas)} personas x {k} conversations need {k * len(personas)} seed queries; "
                        f"the configured sources have {len(seeds)}")
    order = list(seeds)
    derive(cfg.seed, "seed-order").shuffle(order)
    mine = shard_range(len(personas), cfg.shard_index, cfg.num_shards)
    per_persona = {personas[i].id: order[i * k:(i + 1) * k] for i in mine}
    rest = order[k * len(personas):]
    return SeedAssignment(per_persona, rest[cfg.shard_index::cfg.num_shards])


def conversation_plan(cfg: ml_collections.ConfigDict, persona: Persona, seed: SeedQuery, pool: ModelPool) -> ConversationPlan:
    conv_id = f"conv_{persona.id}_{seed.id}"
    rng = derive(cfg.seed, "plan", conv_id)
    mode = "full" if rng.random() < cfg.full_transfer_prob else "partial"
    turns = target_turns(rng, cfg.turns.mean, cfg.turns.std, cfg.turns.min, cfg.turns.max)
    words = target_words(rng, persona.features.get("query_length_pref", "short"))
    return ConversationPlan(conv_id, persona, seed, mode, turns, words, pool.choose(conv_id),
                            cfg.roles.assistant.provider)
