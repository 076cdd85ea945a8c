"""The experiment's data stage: PersonaGym conversations -> labelled PPOpt example splits.

Writes `WORKDIR/data/atlas/` (the datagen run, itself resumable) and `WORKDIR/data/ppopt/<split>.jsonl`.
A finished stage is detected by its split files and skipped on rerun.
"""
from __future__ import annotations

import asyncio
import pathlib

import ml_collections

from personax.data.build import build_dataset, parse_sizes


def _teacher(c: ml_collections.ConfigDict, seed: int):
    if c.teacher == "sim":
        from personax.llm.sim.teacher import SimTeacher
        return SimTeacher(seed=seed)
    if c.teacher == "hosted":
        from personax.data.teacher import LLMTeacher
        from personax.llm.config import make_chat_client
        return LLMTeacher(make_chat_client(c.teacher_role), c.teacher_role.models[0][0])
    raise ValueError(f"data.teacher must be 'sim' or 'hosted', got {c.teacher!r}")


def split_paths(workdir: pathlib.Path, c: ml_collections.ConfigDict) -> dict[str, pathlib.Path]:
    return {name: workdir / "data" / "ppopt" / f"{name}.jsonl" for name in parse_sizes(c.splits)}


def run_data(cfg: ml_collections.ConfigDict, workdir: pathlib.Path) -> dict[str, pathlib.Path]:
    c = cfg.data
    paths = split_paths(workdir, c)
    if all(p.exists() for p in paths.values()):
        return paths
    from data_gen.runner import generate
    atlas = workdir / "data" / "atlas"
    result = asyncio.run(generate(c.datagen, atlas))
    if result.done < result.planned:
        raise RuntimeError(f"datagen finished {result.done}/{result.planned} conversations; rerun to resume")
    report = build_dataset([result.paths["rich"]], workdir / "data" / "ppopt", parse_sizes(c.splits), seed=cfg.seed,
                           teacher=_teacher(c, cfg.seed), label_splits=("sft",), max_history=c.max_history,
                           states_per_persona=c.states_per_persona)
    print(f"data: {report.counts} from {report.personas} personas ({report.labelled['sft']} SFT labels)")
    return paths
