"""A PersonaGym run: plan, simulate with bounded concurrency and retries, supplement, export.

Every finished conversation is appended (fsynced) to the rich store before anything else
happens, so a killed run loses at most the conversations in flight; rerunning the same command
skips what is stored and, with a response cache, pays for nothing twice.
"""
from __future__ import annotations

import asyncio
import collections
import dataclasses
import json
import os
import pathlib
import time
import traceback
from typing import Any

import ml_collections
import tqdm

from data_gen import export
from data_gen.backends import build_roles
from data_gen.bank import load_bank
from data_gen.distractor import DistractorConfig
from data_gen.personas import Persona
from data_gen.plan import assign_seeds, conversation_plan, load_or_sample_personas
from data_gen.roles import Roles
from data_gen.seeds import SeedError, SeedQuery, load_sources
from data_gen.simulate import ConversationPlan, SimulationConfig, simulate
from data_gen.store import JsonlStore, exclusive
from personax.llm.accounting import Accounting
from personax.llm.cache import ResponseCache
from personax.llm.pool import ModelPool


@dataclasses.dataclass
class RunResult:
    planned: int
    done: int
    failed: list[str]
    paths: dict[str, pathlib.Path]
    statistics: dict[str, Any]
    tokens: dict[str, Any]


def parse_source(spec: str) -> dict[str, Any]:
    kind, _, rest = spec.partition(":")
    parts = rest.split(":") if rest else []
    if kind == "builtin" and len(parts) <= 1:
        return {"kind": "builtin", "name": parts[0] if parts else ""}
    if kind == "jsonl" and parts:
        return {"kind": "jsonl", "path": parts[0], "text_field": parts[1] if len(parts) > 1 else "text"}
    if kind == "tfds" and 3 <= len(parts) <= 5:
        return {"kind": "tfds", "name": parts[0], "split": parts[1], "text_field": parts[2],
                "limit": int(parts[3]) if len(parts) > 3 and parts[3] else 1000,
                "data_dir": parts[4] if len(parts) > 4 else None}
    raise SeedError(f"seed source {spec!r}: expected builtin[:SET], jsonl:PATH[:FIELD] or "
                    "tfds:NAME:SPLIT:FIELD[:LIMIT[:DATA_DIR]]")


def paths(workdir: pathlib.Path, cfg: ml_collections.ConfigDict) -> dict[str, pathlib.Path]:
    sfx = "" if cfg.num_shards == 1 else f"-{cfg.shard_index:05d}-of-{cfg.num_shards:05d}"
    names = {"rich": f"personaatlas_rich{sfx}.jsonl", "released": f"personaatlas{sfx}.jsonl",
             "statistics": f"statistics{sfx}.json", "tokens": f"token_usage{sfx}.json",
             "failures": f"failures{sfx}.jsonl", "personas": "personas.json", "cache": "cache",
             "lock": f".lock{sfx}"}
    return {k: workdir / v for k, v in names.items()}


class _Run:
    def __init__(self, cfg: ml_collections.ConfigDict, roles: Roles, store: JsonlStore, p: dict[str, pathlib.Path],
                 accounting: Accounting, sim_cfg: SimulationConfig):
        self.cfg, self.roles, self.store, self.p, self.acc, self.sim_cfg = cfg, roles, store, p, accounting, sim_cfg
        self.errors = 0
        self.invocation = f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"
        self.bar: tqdm.tqdm | None = None
        self._last_report = 0.0
        # Attempts failed in earlier invocations are not repeated: a retry must not be answered
        # from the cache with the reply that failed before.
        self.failed_before = collections.Counter(
            json.loads(line)["conv_id"] for line in
            (p["failures"].read_text(encoding="utf-8").splitlines() if p["failures"].exists() else []) if line.strip())

    def _log_failure(self, plan: ConversationPlan, attempt: int, exc: BaseException) -> None:
        self.errors += 1
        line = {"conv_id": plan.conv_id, "attempt": attempt, "invocation": self.invocation,
                "error": f"{type(exc).__name__}: {exc}", "where": traceback.format_exc(limit=-2)}
        with open(self.p["failures"], "a", encoding="utf-8") as f:
            f.write(json.dumps(line, ensure_ascii=False) + "\n")

    async def one(self, plan: ConversationPlan, sem: asyncio.Semaphore) -> bool:
        async with sem:
            first = self.failed_before[plan.conv_id]
            for attempt in range(first, first + self.cfg.conversation_retries):
                try:
                    record = await simulate(plan, self.roles, self.sim_cfg, attempt)
                except Exception as exc:  # any failure costs this attempt only, never the run
                    self._log_failure(plan, attempt, exc)
                    continue
                self.store.append(record.to_json())
                self._progress()
                return True
            return False

    def _progress(self) -> None:
        now = time.monotonic()
        if now - self._last_report > 1.0:
            self.write_tokens()
            self._last_report = now
        if self.bar is not None:
            t = self.acc.summary()["totals"]
            self.bar.set_postfix(tokens=t["prompt_tokens"] + t["completion_tokens"],
                                 cost=f"${t['cost_usd']:.4f}", errors=self.errors, refresh=False)
            self.bar.update(1)

    def write_tokens(self) -> dict[str, Any]:
        old = json.loads(self.p["tokens"].read_text()) if self.p["tokens"].exists() else {}
        invocations = {**old.get("invocations", {}), self.invocation: self.acc.summary()}
        summary = export.token_summary(invocations, len(self.store))
        export.write_json(self.p["tokens"], summary)
        return summary

    async def batch(self, plans: list[ConversationPlan]) -> None:
        sem = asyncio.Semaphore(self.cfg.concurrency)
        await asyncio.gather(*(self.one(p, sem) for p in plans))


async def _supplement(run: _Run, mine: list[Persona], spare: list[SeedQuery], pool: ModelPool) -> None:
    """Rounds of fresh seeds for personas still short of their conversations."""
    cfg = run.cfg
    for _ in range(cfg.supplement_rounds):
        done = collections.Counter(r["persona_id"] for r in run.store)
        plans = [conversation_plan(cfg, q, spare.pop(0), pool) for q in mine
                 for _ in range(cfg.conversations_per_persona - done[q.id]) if spare]
        if not plans:
            return
        run.bar.total += len(plans)
        await run.batch(plans)


def _finish(run: _Run, plans: list[ConversationPlan], wanted: int) -> RunResult:
    records = export.rich_records(run.store, str(run.p["rich"]))
    records.sort(key=lambda r: (r.persona_id, r.sample_id))
    export.write_released(records, run.p["released"])
    base_ids = {x.conv_id for x in plans}
    missing = [i for i in base_ids if i not in run.store] if len(run.store) < wanted else []
    stats = export.statistics(records, wanted, missing, sum(r.sample_id not in base_ids for r in records))
    stats["errors_this_invocation"] = run.errors
    export.write_json(run.p["statistics"], stats)
    return RunResult(wanted, len(run.store), stats["failed_conversations"], run.p, stats, run.write_tokens())


async def generate(cfg: ml_collections.ConfigDict, workdir: str | os.PathLike) -> RunResult:
    p = paths(pathlib.Path(workdir), cfg)
    with exclusive(p["lock"]):
        return await _generate(cfg, p)


async def _generate(cfg: ml_collections.ConfigDict, p: dict[str, pathlib.Path]) -> RunResult:
    bank = load_bank()
    accounting = Accounting()
    roles, clients = build_roles(cfg, accounting, ResponseCache(p["cache"]))
    try:
        personas = await load_or_sample_personas(cfg, bank, roles.others, p["personas"])
        assignment = assign_seeds(cfg, personas, load_sources([parse_source(s) for s in cfg.seed_sources]))
        pool = ModelPool.from_spec(cfg.roles.assistant.models, seed=cfg.roles.assistant.seed)
        sim_cfg = SimulationConfig(cfg.turns.max, bank.dimensions["domain"].values, bank.dimensions["scenario"].values,
                                   DistractorConfig(cfg.distractor.rate, cfg.distractor.layers.to_dict()), cfg.seed)
        run = _Run(cfg, roles, JsonlStore(p["rich"], key="sample_id"), p, accounting, sim_cfg)
        mine = [q for q in personas if q.id in assignment.per_persona]
        plans = [conversation_plan(cfg, q, s, pool) for q in mine for s in assignment.per_persona[q.id]]
        base_ids = {x.conv_id for x in plans}
        # Supplements stored by an earlier invocation count as planned work.
        earlier = sum(r["persona_id"] in assignment.per_persona and r["sample_id"] not in base_ids for r in run.store)
        run.bar = tqdm.tqdm(total=len(plans) + earlier, initial=len(run.store), desc="conversations",
                            unit="conv", disable=not cfg.progress, dynamic_ncols=True)
        await run.batch([x for x in plans if x.conv_id not in run.store])
        used = {r["metadata"]["query"]["seed_id"] for r in run.store} | {x.seed.id for x in plans}
        await _supplement(run, mine, [s for s in assignment.supplements if s.id not in used], pool)
        run.bar.close()
        return _finish(run, plans, cfg.conversations_per_persona * len(mine))
    finally:
        for client in clients:
            await client.aclose()
