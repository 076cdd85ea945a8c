"""`run_eval(cfg, workdir)`: every configured method on the held-out split, scored, summarized and
reported in WORKDIR/report/ (report.md, PNG plots, items.jsonl, summary.json). Resumable."""
from __future__ import annotations

import asyncio
import hashlib
import json
import pathlib

import ml_collections

from personax.eval.harness import BASELINE, Harness, ItemStore, fingerprint, scored_items, summarize_methods
from personax.eval.policy_methods import STAGE_PAIRS
from personax.eval.stats import stage_gains
from personax.eval.methods import MethodContext, get_method, method_names
from personax.eval.report import write_report
from personax.llm.deployed import ChatDeployed, DeployedLLM
from personax.rewards import build_deployed, build_judges
from personax.rewards.config import role_model
from personax.train.data_stage import run_data
from personax.train.sft_run import read_examples

# Bumped when items gain a field, so a resumed evaluation rescores items stored without it (2: profile;
# 3: per-answer samples and outcome shares).
ITEM_FORMAT = 3


def _hosted_role(section: ml_collections.ConfigDict, name: str) -> DeployedLLM:
    from personax.llm.config import make_chat_client
    return ChatDeployed(make_chat_client(section.llm), role_model(section, name), temperature=section.llm.temperature,
                        max_tokens=section.llm.max_tokens)


def build_summarizer(cfg: ml_collections.ConfigDict, deployed: DeployedLLM) -> DeployedLLM:
    s = cfg.eval.summarizer
    if s.backend == "deployed":
        return deployed
    if s.backend != "hosted":
        raise ValueError(f"eval.summarizer.backend must be 'deployed' or 'hosted', got {s.backend!r}")
    return _hosted_role(s, "summarizer")


def build_rewriter(cfg: ml_collections.ConfigDict) -> DeployedLLM | None:
    """The generic rewriter's chat model; None for the "base" backend (the policy base model rewrites)."""
    r = cfg.eval.rewriter
    if r.backend not in ("base", "hosted"):
        raise ValueError(f"eval.rewriter.backend must be 'base' or 'hosted', got {r.backend!r}")
    return _hosted_role(r, "rewriter") if r.backend == "hosted" else None


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
    if e.robustness.enabled:
        from personax.eval.robustness_points import check_config
        check_config(e.robustness)
    deployed, judges = build_deployed(cfg.rewards), build_judges(cfg.rewards)
    ctx = MethodContext(cfg, workdir, deployed, build_summarizer(cfg, deployed), e.concurrency, build_rewriter(cfg))
    report_dir = workdir / "report"
    store = ItemStore(report_dir / "items.jsonl")
    # The split's bytes, not its path: a moved or copied workdir keeps its items, regenerated data does not.
    split_digest = hashlib.sha256(paths[e.split].read_bytes()).hexdigest()
    config_fp = fingerprint(ITEM_FORMAT, cfg.rewards.deployed.to_dict(), cfg.rewards.judge.to_dict(), split_digest,
                            e.answers_per_prompt)
    harness = Harness(deployed, judges, store, config_fp, e.concurrency, answers_per_prompt=e.answers_per_prompt)

    notes = asyncio.run(harness.run_methods([get_method(n) for n in names], examples, ctx))
    store.compact()
    by_method = scored_items(store, [n for n in names if n not in notes], examples)
    weights = dict(cfg.rewards.weights)
    methods = summarize_methods(by_method, e.seed, e.bootstrap_samples, e.confidence, weights)
    summary = {"n_examples": len(examples), "n_personas": len({x.persona_id for x in examples}), "split": e.split,
               "confidence": e.confidence, "answers_per_prompt": e.answers_per_prompt, "methods": methods,
               "stage_gains": stage_gains(by_method, STAGE_PAIRS, weights, e.seed, e.bootstrap_samples, e.confidence),
               "reward_weights": weights, "skipped": notes, "sim": _sim_backends(cfg)}
    if e.robustness.enabled:
        from personax.eval.robustness import run_robustness
        summary["robustness"] = run_robustness(cfg, workdir, examples, ctx, judges, config_fp)
    summary["judge_stats"] = dict(judges.stats)
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    write_report(summary, by_method, workdir, plots=e.plots)
    return summary


def _sim_backends(cfg: ml_collections.ConfigDict) -> list[str]:
    return [role for role in ("deployed", "judge") if cfg.rewards[role].backend == "sim"]
