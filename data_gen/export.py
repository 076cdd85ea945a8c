"""Run outputs (SPEC §1.6): released PersonaAtlas JSONL, run statistics, token report."""
from __future__ import annotations

import collections
import datetime
import pathlib
import statistics as st
from typing import Any, Iterable

from data_gen.backends import SIMULATION_MODULES
from personax.data.fields import Fields
from personax.data.records import RichRecord, dumps, to_released
from personax.llm import atomic


def rich_records(objs: Iterable[dict[str, Any]], where: str) -> list[RichRecord]:
    return [RichRecord.from_json(Fields(o, f"{where}[{o.get('sample_id')}]")) for o in objs]


def write_released(records: list[RichRecord], path: pathlib.Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(dumps(to_released(r)) + "\n" for r in records), encoding="utf-8")
    tmp.replace(path)


def _spread(values: list[float]) -> dict[str, float]:
    if not values:
        return {"mean": 0.0, "min": 0, "max": 0}
    return {"mean": round(st.fmean(values), 4), "min": min(values), "max": max(values)}


def statistics(records: list[RichRecord], planned: int, failed: list[str], supplements: int,
               attached: tuple[str, ...] = ("domain", "scenario")) -> dict[str, Any]:
    users = [m for r in records for m in r.messages if m.role == "user"]
    noised = [m for m in users if m.was_noised]
    layers = collections.Counter(m.noise.layer for m in noised if m.noise)
    strategies = collections.Counter(s for m in noised if m.noise for s in m.noise.applied_strategies)
    personas = {r.persona_id: r.persona for r in records}
    per_persona = collections.Counter(r.persona_id for r in records)
    turns = _spread([r.num_turns for r in records])
    return {
        # The reference generator's keys first, so its readers (and `personax data inspect`) work.
        "total_samples": len(records),
        "avg_turns": turns["mean"], "min_turns": turns["min"], "max_turns": turns["max"],
        "total_user_prompts": len(users),
        "generated_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "planned": planned,
        "failed_conversations": sorted(failed),
        "supplement_conversations": supplements,
        "unique_personas": len(personas),
        "conversations_per_persona": _spread(list(per_persona.values())),
        "turns": turns,
        "turn_counts": dict(sorted(collections.Counter(r.num_turns for r in records).items())),
        "target_turn_counts": dict(sorted(collections.Counter(r.query.target_turns for r in records if r.query).items())),
        "conversation_ended_share": round(sum(r.conversation_ended for r in records) / max(1, len(records)), 4),
        "total_user_messages": len(users),
        "noised_user_messages": len(noised),
        "noise_share": round(len(noised) / max(1, len(users)), 4),
        "layer_counts": dict(sorted(layers.items())),
        "layer_shares": {k: round(v / max(1, len(noised)), 4) for k, v in sorted(layers.items())},
        "strategy_counts": dict(sorted(strategies.items())),
        "prompt_types": dict(collections.Counter(r.query.prompt_type for r in records if r.query)),
        "features_per_persona": _spread([len([k for k in p if k not in attached]) for p in personas.values()]),
        "features_per_persona_with_attached": _spread([len(p) for p in personas.values()]),
    }


def token_summary(invocations: dict[str, dict[str, Any]], conversations: int) -> dict[str, Any]:
    """Totals over every invocation of the run (a resumed run adds one per start)."""
    total = collections.Counter()
    modules = collections.Counter()
    for summary in invocations.values():
        t = summary["totals"]
        total.update({k: t[k] for k in ("calls", "cache_hits", "prompt_tokens", "completion_tokens",
                                       "retries", "failed_requests", "cost_usd")})
        modules.update({m: row["prompt_tokens"] + row["completion_tokens"] for m, row in summary["by_module"].items()})
    tokens = total["prompt_tokens"] + total["completion_tokens"]
    sim = sum(modules[m] for m in SIMULATION_MODULES)
    return {"totals": dict(total, tokens=tokens, cost_usd=round(total["cost_usd"], 6)),
            "tokens_by_module": dict(modules),
            "tokens_per_conversation": round(tokens / max(1, conversations), 1),
            "simulation_token_share": round(sim / max(1, tokens), 4),
            "invocations": invocations}


def write_json(path: pathlib.Path, obj: Any) -> None:
    atomic.write_json(path, obj, indent=2, sort_keys=True)
