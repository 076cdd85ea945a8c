"""The experiment's data stage: PersonaGym conversations -> labelled PPOpt example splits.

Writes `WORKDIR/data/atlas/` (the datagen run, itself resumable) and `WORKDIR/data/ppopt/<split>.jsonl`.
A finished stage is detected by its split files and skipped on rerun; `data/ppopt/data_config.json`
records the settings that decide the splits' content, and a rerun under other settings is refused
instead of silently training on stale data.
"""
from __future__ import annotations

import asyncio
import json
import pathlib

import ml_collections

from personax.data.build import build_dataset, parse_sizes


def _teacher(c: ml_collections.ConfigDict, seed: int):
    if c.teacher == "sim":
        from personax.llm.sim.teacher import SimTeacher
        return SimTeacher(seed=seed, best_of=c.teacher_best_of, reads_query=c.teacher_reads_query)
    if c.teacher == "hosted":
        if c.teacher_best_of != 1:
            raise ValueError(f"data.teacher_best_of={c.teacher_best_of} needs data.teacher='sim': a hosted "
                             "teacher's labels have no privileged score here to pick the best by")
        if c.teacher_reads_query:
            raise ValueError("data.teacher_reads_query=True needs data.teacher='sim': the hosted teacher's "
                             "prompt shows it the current query already")
        from personax.data.teacher import LLMTeacher
        from personax.llm.config import make_chat_client
        return LLMTeacher(make_chat_client(c.teacher_role), c.teacher_role.models[0][0])
    raise ValueError(f"data.teacher must be 'sim' or 'hosted', got {c.teacher!r}")


def split_paths(workdir: pathlib.Path, c: ml_collections.ConfigDict) -> dict[str, pathlib.Path]:
    return {name: workdir / "data" / "ppopt" / f"{name}.jsonl" for name in parse_sizes(c.splits)}


# Content settings added after workdirs were built: a saved file without one was built with this value.
ADDED_LATER = {"teacher_best_of": 1, "heldout_states_per_persona": 1, "teacher_reads_query": False}
# The datagen settings that change which conversations are generated (not how fast or where).
CONTENT_KEYS = ("seed", "num_personas", "conversations_per_persona", "sampler", "seed_sources", "turns",
                "full_transfer_prob", "distractor")


def content_settings(cfg: ml_collections.ConfigDict) -> dict:
    c = cfg.data
    gen = {k: c.datagen[k] for k in CONTENT_KEYS} | {"express_scale": c.datagen.sim.express_scale}
    data = {k: c[k] for k in ("splits", "max_history", "states_per_persona", "heldout_states_per_persona",
                              "teacher", "teacher_best_of", "teacher_reads_query")}
    plain = lambda v: v.to_dict() if isinstance(v, ml_collections.ConfigDict) else v  # noqa: E731
    settings = {"seed": cfg.seed, "data": data, "datagen": {k: plain(v) for k, v in gen.items()}}
    return json.loads(json.dumps(settings))  # tuples as lists: comparable with the saved JSON


def _check_settings(path: pathlib.Path, cfg: ml_collections.ConfigDict) -> None:
    if not path.exists():
        return  # splits written before the settings were recorded
    saved, now = json.loads(path.read_text(encoding="utf-8")), content_settings(cfg)
    changed = [] if saved.get("seed") == now["seed"] else ["seed"]
    for part in ("data", "datagen"):
        changed += [f"{part}.{k}" for k in now[part]
                    if saved.get(part, {}).get(k, ADDED_LATER.get(k)) != now[part][k]]
    if changed:
        raise ValueError(f"{path.parent} was built with other data settings ({', '.join(changed)} differ); "
                         "use a new --workdir, or restore the settings it was built with")


def run_data(cfg: ml_collections.ConfigDict, workdir: pathlib.Path) -> dict[str, pathlib.Path]:
    c = cfg.data
    paths = split_paths(workdir, c)
    settings = workdir / "data" / "ppopt" / "data_config.json"
    if all(p.exists() for p in paths.values()):
        _check_settings(settings, cfg)
        return paths
    from data_gen.runner import generate
    atlas = workdir / "data" / "atlas"
    result = asyncio.run(generate(c.datagen, atlas))
    if result.done < result.planned:
        raise RuntimeError(f"datagen finished {result.done}/{result.planned} conversations; rerun to resume")
    report = build_dataset([result.paths["rich"]], workdir / "data" / "ppopt", parse_sizes(c.splits), seed=cfg.seed,
                           teacher=_teacher(c, cfg.seed), label_splits=("sft",), max_history=c.max_history,
                           states_per_persona=c.states_per_persona,
                           heldout_states_per_persona=c.heldout_states_per_persona)
    settings.write_text(json.dumps(content_settings(cfg), indent=1), encoding="utf-8")
    print(f"data: {report.counts} from {report.personas} personas ({report.labelled['sft']} SFT labels)")
    return paths
