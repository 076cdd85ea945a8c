"""`run_eval(cfg, workdir)`: every configured method on the held-out split, scored, summarized and
reported in WORKDIR/report/ (report.md, PNG plots, items.jsonl, summary.json). Resumable."""
from __future__ import annotations

import asyncio
import json
import pathlib

import ml_collections

from personax.eval.harness import BASELINE, Harness, ItemStore, fingerprint
from personax.eval.methods import MethodContext, get_method, method_names
from personax.eval.report import write_report
from personax.eval.stats import summarize_method
from personax.llm.deployed import ChatDeployed, DeployedLLM
from personax.rewards import build_deployed, build_judges
from personax.rewards.config import role_model
from personax.train.data_stage import run_data
from personax.train.sft_run import read_examples


def build_summarizer(cfg: ml_collections.ConfigDict, deployed: DeployedLLM) -> DeployedLLM:
    s = cfg.eval.summarizer
    if s.backend == "deployed":
        return deployed
    if s.backend != "hosted":
        raise ValueError(f"eval.summarizer.backend must be 'deployed' or 'hosted', got {s.backend!r}")
    from personax.llm.config import make_chat_client
    return ChatDeployed(make_chat_client(s.llm), role_model(s, "summarizer"), temperature=s.llm.temperature,
                        max_tokens=s.llm.max_tokens)


def method_order(cfg: ml_collections.ConfigDict) -> list[str]:
    """The baseline first (every pairwise comparison needs its answer), then the config's order."""
    names = [BASELINE] + [m for m in cfg.eval.methods if m != BASELINE]
    unknown = [m for m in names if m not in method_names()]
    if unknown:
        raise ValueError(f"eval.methods: unknown {unknown}; registered: {method_names()}")
    return list(dict.fromkeys(names))


def run_eval(cfg: ml_collections.ConfigDict, workdir: str | pathlib.Path) -> dict:
    workdir = pathlib.Path(workdir)
    e = cfg.eval
    paths = run_data(cfg, workdir)
    if e.split not in paths:
        raise ValueError(f"eval.split={e.split!r} is not a data split; have {sorted(paths)}")
    examples = read_examples(paths[e.split])
    examples = examples[:e.max_examples] if e.max_examples > 0 else examples
    if not examples:
        raise ValueError(f"no examples in {paths[e.split]} to evaluate")
    names = method_order(cfg)
    deployed, judges = build_deployed(cfg.rewards), build_judges(cfg.rewards)
    ctx = MethodContext(cfg, workdir, deployed, build_summarizer(cfg, deployed), e.concurrency)
    report_dir = workdir / "report"
    store = ItemStore(report_dir / "items.jsonl")
    config_fp = fingerprint(cfg.rewards.deployed.to_dict(), cfg.rewards.judge.to_dict(), str(paths[e.split]))
    harness = Harness(deployed, judges, store, config_fp, e.concurrency)

    async def go() -> dict[str, str]:
        notes = {}
        for name in names:
            note = await harness.run_method(get_method(name), examples, ctx)
            if note:
                notes[name] = note
        return notes
    notes = asyncio.run(go())
    store.compact()

    by_method = {name: [store.items[(x.state_id, name)] for x in examples if (x.state_id, name) in store.items]
                 for name in names if name not in notes}
    baseline = {i["state_id"]: i for i in by_method[BASELINE]}
    methods = {name: summarize_method(items, baseline, e.seed, e.bootstrap_samples, e.confidence)
               for name, items in by_method.items()}
    summary = {"n_examples": len(examples), "split": e.split, "confidence": e.confidence, "methods": methods,
               "skipped": notes, "judge_stats": dict(judges.stats), "sim": _sim_backends(cfg)}
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    write_report(summary, by_method, workdir, plots=e.plots)
    return summary


def _sim_backends(cfg: ml_collections.ConfigDict) -> list[str]:
    return [role for role in ("deployed", "judge") if cfg.rewards[role].backend == "sim"]
