"""The traits-expressed sweep: the held-out states' history conversations simulated again on the sim
world with the sim user's expression knob `express_scale` turned down.

`express_scale` multiplies each trait's per-message probability of being voiced (world.json
`express_prob`; follow-ups also by `followup_cue_scale`), in the style transfer of the first message and
in the user simulator's follow-ups. It does not set a fraction of traits directly, so each point also
reports the fraction it produced: the persona's cue-bearing traits whose cue appears in the history.
Everything else about a conversation (seed query, plan, assistant, distractor) is as generated, so at
scale 1.0 the histories come back unchanged.
"""
from __future__ import annotations

import json
import pathlib
import statistics
from typing import Sequence

import ml_collections

from data_gen.backends import build_roles
from data_gen.bank import load_bank
from data_gen.distractor import DistractorConfig
from data_gen.personas import Persona
from data_gen.plan import conversation_plan
from data_gen.roles import Roles
from data_gen.runner import parse_source
from data_gen.seeds import load_sources
from data_gen.simulate import SimulationConfig, simulate
from personax.data.examples import PPOptExample
from personax.data.records import RichRecord
from personax.eval.robustness_history import NotInAtlas
from personax.llm.accounting import Accounting
from personax.llm.cache import ResponseCache
from personax.llm.pool import ModelPool
from personax.llm.sim.teacher import evidence
from personax.llm.sim.world import expressed_cues, load_world

SIM_ROLES = ("style", "user")  # where the knob lives


def why_not_sim(datagen: ml_collections.ConfigDict) -> str | None:
    """Why the sweep cannot run with this generator config, or None."""
    hosted = [r for r in SIM_ROLES if datagen.roles[r].backend != "sim"]
    if hosted:
        return (f"data.datagen.roles.{'/'.join(hosted)} not on the sim backend: the traits-expressed knob "
                "(express_scale) exists only in the sim user")
    return None


def traits_expressed(examples: Sequence[PPOptExample]) -> float:
    """Mean over states of the fraction of the persona's cue-bearing traits whose cue is in the history."""
    world = load_world()
    fractions = [len(evidence(world, e.persona, list(e.history_texts))) / len(cues)
                 for e in examples if (cues := expressed_cues(world, e.persona))]
    return statistics.fmean(fractions) if fractions else float("nan")


def generator_roles(datagen: ml_collections.ConfigDict, express_scale: float, cache: ResponseCache
                    ) -> tuple[Roles, list]:
    """The generator's roles as configured, with the sim user's expression knob at `express_scale`;
    and the hosted clients among them, to close."""
    cfg = ml_collections.ConfigDict(datagen.to_dict())
    cfg.sim.express_scale = express_scale
    return build_roles(cfg, Accounting(), cache)


class Regenerator:
    """Re-simulates atlas conversations with the generator's own plans, roles and seeds."""

    def __init__(self, datagen: ml_collections.ConfigDict, atlas_dir: pathlib.Path, cache: ResponseCache):
        self.cfg = datagen
        saved = json.loads((atlas_dir / "personas.json").read_text(encoding="utf-8"))
        self.personas = {p["id"]: Persona(p["id"], p["features"]) for p in saved["personas"]}
        self.seeds = {s.id: s for s in load_sources([parse_source(x) for x in datagen.seed_sources])}
        self.pool = ModelPool.from_spec(datagen.roles.assistant.models, seed=datagen.roles.assistant.seed)
        bank = load_bank()
        self.sim_cfg = SimulationConfig(datagen.turns.max, bank.dimensions["domain"].values,
                                        bank.dimensions["scenario"].values,
                                        DistractorConfig(datagen.distractor.rate, datagen.distractor.layers.to_dict()),
                                        datagen.seed)
        self.cache = cache
        self.clients: list = []

    def roles(self, scale: float) -> Roles:
        roles, clients = generator_roles(self.cfg, scale, self.cache)
        self.clients += clients
        return roles

    async def regenerate(self, record: RichRecord, roles: Roles) -> RichRecord:
        if record.query is None or record.persona_id not in self.personas or record.query.seed_id not in self.seeds:
            raise NotInAtlas(f"conversation {record.sample_id}: its persona or seed query is not in this run's "
                             "personas.json / seed sources, so it cannot be simulated again")
        plan = conversation_plan(self.cfg, self.personas[record.persona_id], self.seeds[record.query.seed_id],
                                 self.pool)
        if plan.conv_id != record.sample_id:
            raise NotInAtlas(f"conversation {record.sample_id}: its plan is named {plan.conv_id}; the generator "
                             "config differs from the one that made the atlas")
        return await simulate(plan, roles, self.sim_cfg)

    async def aclose(self) -> None:
        for client in self.clients:
            await client.aclose()
