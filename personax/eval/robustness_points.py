"""The robustness sweeps' points: each a list of the held-out states with changed histories (noise in one
layer at a rate, the last k sessions, histories re-simulated with a lower trait expression), the settings
that made it, and what it measured."""
from __future__ import annotations

import dataclasses
import pathlib
from typing import Any, Sequence

import ml_collections

from personax.data.examples import PPOptExample
from personax.data.records import RichRecord
from personax.eval.methods import gather_limited, method_names
from personax.eval.robustness_history import (AtlasHistories, NotInAtlas, as_sent, keep_last, noised_in_layer,
                                              with_history)
from personax.eval.robustness_traits import Regenerator, generator_roles, traits_expressed, why_not_sim
from personax.llm.cache import ResponseCache

SWEEPS = ("noise", "sparsity", "traits")
X_LABELS = {"noise": "noise rate r", "sparsity": "history sessions kept (last k)",
            "traits": "sim user express_scale"}


@dataclasses.dataclass
class Point:
    key: str  # its directory under report/robustness/
    examples: list[PPOptExample]
    spec: Any  # what, besides the config, decides its histories (in the items' fingerprint)
    measured: dict[str, float] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Sweeps:
    points: dict[str, Point] = dataclasses.field(default_factory=dict)
    curves: dict[str, list[tuple[float, str]]] = dataclasses.field(default_factory=dict)  # curve -> (x, key)
    x_labels: dict[str, str] = dataclasses.field(default_factory=dict)  # curve -> what x is
    skipped: dict[str, str] = dataclasses.field(default_factory=dict)  # sweep -> why

    def add(self, sweep: str, curve: str, x: float, point: Point) -> None:
        self.points.setdefault(point.key, point)
        self.curves.setdefault(curve, []).append((x, point.key))
        self.x_labels[curve] = X_LABELS[sweep]


def _atlas(cfg: ml_collections.ConfigDict, workdir: pathlib.Path) -> AtlasHistories | str:
    from data_gen.runner import paths
    rich = paths(workdir / "data" / "atlas", cfg.data.datagen)["rich"]
    if not rich.exists():
        return f"no PersonaGym atlas at {rich} (the held-out split was not generated in this workdir)"
    return AtlasHistories(rich)


def _regroup(examples: Sequence[PPOptExample], records: list[list[RichRecord]], sessions: Sequence[str]
             ) -> list[PPOptExample]:
    """The flat list of new session texts (records' order) back into each state's history."""
    it = iter(sessions)
    return [with_history(e, [next(it) for _ in recs]) for e, recs in zip(examples, records)]


def _generator_fp(datagen: ml_collections.ConfigDict) -> dict:
    """The generator settings that shape a history (not its progress bar or concurrency)."""
    return {k: v for k, v in datagen.to_dict().items() if k not in ("progress", "concurrency")}


async def _noise(sweeps: Sweeps, cfg, examples, atlas: AtlasHistories, cache: ResponseCache) -> None:
    r, datagen = cfg.eval.robustness, cfg.data.datagen
    records = [atlas.records(e) for e in examples]
    roles, clients = generator_roles(datagen, datagen.sim.express_scale, cache)
    layers = datagen.distractor.layers.to_dict()
    try:
        for layer in r.noise_layers:
            for rate in r.noise_rates:
                sessions = await gather_limited([noised_in_layer(rec, layer, rate, r.seed, roles.distractor, layers)
                                                 for recs in records for rec in recs], cfg.eval.concurrency)
                noised = _regroup(examples, records, [s.text for s in sessions])
                eligible = sum(s.eligible for s in sessions)
                key = "noise/clean" if rate == 0 else f"noise/{layer}/r={rate:g}"
                spec = ("noise", r.seed, rate, layer if rate else None, _generator_fp(datagen))
                measured = {"messages noised": sum(s.noised for s in sessions) / eligible if eligible else 0.0}
                sweeps.add("noise", f"noise: {layer}", rate, Point(key, noised, spec, measured))
    finally:
        for client in clients:
            await client.aclose()


def _sparsity(sweeps: Sweeps, cfg, examples) -> None:
    for k in cfg.eval.robustness.sessions:
        kept = [keep_last(e, k) for e in examples]
        mean = sum(len(e.history_texts) for e in kept) / len(kept)
        sweeps.add("sparsity", "sparsity", k, Point(f"sparsity/k={k}", kept, ("sparsity", k), {"sessions kept": mean}))


async def _traits(sweeps: Sweeps, cfg, examples, atlas: AtlasHistories, cache: ResponseCache) -> None:
    regen = Regenerator(cfg.data.datagen, atlas.path.parent, cache)
    records = [atlas.records(e) for e in examples]
    try:
        for scale in cfg.eval.robustness.express_scales:
            roles = regen.roles(scale)
            fresh = await gather_limited([regen.regenerate(rec, roles) for recs in records for rec in recs],
                                         cfg.eval.concurrency)
            regenerated = _regroup(examples, records, [as_sent(rec) for rec in fresh])
            spec = ("traits", scale, _generator_fp(cfg.data.datagen))
            sweeps.add("traits", "traits", scale, Point(f"traits/scale={scale:g}", regenerated, spec))
    finally:
        await regen.aclose()


def check_config(r: ml_collections.ConfigDict) -> None:
    """Before any work: a typo here should not surface after the main evaluation has run."""
    unknown = [s for s in r.sweeps if s not in SWEEPS]
    if unknown:
        raise ValueError(f"eval.robustness.sweeps: unknown {unknown}; known: {SWEEPS}")
    unknown = [m for m in r.methods if m not in method_names()]
    if unknown:
        raise ValueError(f"eval.robustness.methods: unknown {unknown}; registered: {method_names()}")
    for field, ok, expected in (("noise_rates", lambda v: 0.0 <= v <= 1.0, "in [0, 1]"),
                                ("sessions", lambda v: isinstance(v, int) and v >= 1, "integers >= 1"),
                                ("express_scales", lambda v: v >= 0.0, ">= 0")):
        bad = [v for v in r[field] if not ok(v)]
        if bad:
            raise ValueError(f"eval.robustness.{field}: {bad} not {expected}")


async def build_sweeps(cfg: ml_collections.ConfigDict, workdir: pathlib.Path, examples: Sequence[PPOptExample]
                       ) -> Sweeps:
    r, sweeps = cfg.eval.robustness, Sweeps()
    cache = ResponseCache(workdir / "report" / "robustness" / "cache")
    atlas = _atlas(cfg, workdir) if {"noise", "traits"} & set(r.sweeps) else None
    for sweep in r.sweeps:
        if sweep == "sparsity":
            _sparsity(sweeps, cfg, examples)
        elif isinstance(atlas, str):
            sweeps.skipped[sweep] = atlas
        elif sweep == "traits" and why_not_sim(cfg.data.datagen) is not None:
            sweeps.skipped[sweep] = why_not_sim(cfg.data.datagen)
        else:
            try:
                await (_noise if sweep == "noise" else _traits)(sweeps, cfg, examples, atlas, cache)
            except NotInAtlas as err:
                sweeps.skipped[sweep] = str(err)
    if why_not_sim(cfg.data.datagen) is None:  # the sim's cues are what the fraction counts
        for point in sweeps.points.values():
            point.measured["traits expressed"] = traits_expressed(point.examples)
    return sweeps
