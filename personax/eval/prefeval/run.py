"""`run_prefeval(cfg, workdir)`: every configured method's prompt for each PrefEval state, scored by
multiple choice (and the four-check judge when enabled), into WORKDIR/report/prefeval_items.jsonl,
prefeval.md and prefeval.png. Resumable: an item whose inputs and settings match is not redone."""
from __future__ import annotations

import asyncio
import dataclasses
import json
import pathlib
from typing import Sequence

import ml_collections

from personax.eval.harness import BASELINE, ItemStore, fingerprint
from personax.eval.methods import MethodContext, MethodOutput, MethodSkipped, gather_limited, get_method, method_names
from personax.eval.prefeval.data import PrefEvalItem, load_prefeval
from personax.eval.prefeval.judge import SYSTEMS, FourCheckJudge
from personax.eval.prefeval.logprobs import LogprobScorer
from personax.eval.prefeval.mcq import MCQ_REQUEST, SCORERS, Deployed, Question, score_questions, shuffled_order
from personax.eval.prefeval.report import write_prefeval_report
from personax.eval.prefeval.summary import summarize
from personax.llm.deployed import CALL_FAILURES, ChatDeployed, DeployedLLM
from personax.llm.local import LocalChatClient, LocalOptions


@dataclasses.dataclass
class Session:
    cfg: ml_collections.ConfigDict
    store: ItemStore
    mcq: Deployed
    ctx: MethodContext
    config_fp: str


def _method_names(p: ml_collections.ConfigDict) -> list[str]:
    names = list(dict.fromkeys([BASELINE, *p.methods]))
    unknown = [m for m in names if m not in method_names()]
    if unknown:
        raise ValueError(f"prefeval.methods: unknown {unknown}; registered: {method_names()}")
    bad = [s for s in p.mcq.scorers if s not in SCORERS.names()] or ([] if p.mcq.scorers else ["(none)"])
    if bad:
        raise ValueError(f"prefeval.mcq.scorers: unknown {bad}; registered: {SCORERS.names()}")
    return names


def _record(item: PrefEvalItem, out: MethodOutput, order: list[int], mcq: dict) -> dict:
    e = item.example
    return {"state_id": e.state_id, "form": item.form, "topic": item.topic, "index": item.index,
            "preference": item.preference, "original_query": e.original_query, "prompt": out.prompt,
            "status": out.status, "extra": out.extra, "order": order, "mcq": mcq, "error": None}


async def run_method(s: Session, name: str, items: Sequence[PrefEvalItem]) -> str | None:
    """Prompts and MCQ scores for every item not already done; a note when the method was skipped."""
    method = get_method(name)
    try:
        version = method.version(s.ctx)
    except MethodSkipped as skip:
        return str(skip)
    fps = [fingerprint(s.config_fp, name, version, i.example.input, i.options) for i in items]
    todo = [(i, fp) for i, fp in zip(items, fps) if not s.store.done(i.example, name, fp)]
    if not todo:
        return None
    outputs = await method.prompts([i.example for i, _ in todo], s.ctx)
    if len(outputs) != len(todo):
        raise RuntimeError(f"eval method {name} returned {len(outputs)} prompts for {len(todo)} states")
    orders = [shuffled_order(i.example.state_id, len(i.options), s.cfg.prefeval.seed) for i, _ in todo]
    questions = [Question(o.prompt, tuple(i.options[k] for k in order))
                 for (i, _), o, order in zip(todo, outputs, orders)]
    per_scorer = {sc: score_questions(s.mcq, questions, sc) for sc in s.cfg.prefeval.mcq.scorers}
    records = []
    for n, ((item, fp), out, order) in enumerate(zip(todo, outputs, orders)):
        mcq = {sc: {**r[n], "correct": order[r[n]["choice"]] == 0} for sc, r in per_scorer.items()}
        records.append({**_record(item, out, order, mcq), "method": name, "version": version, "fingerprint": fp})
    s.store.add(records)
    return None


async def judge_items(records: list[dict], deployed: DeployedLLM, judge: FourCheckJudge, fp: str, limit: int) -> None:
    """Adds `judge` (the deployed model's answer to the prompt and the four checks) where it is missing."""
    answers: dict[str, asyncio.Future] = {}  # a prompt shared by methods is answered once

    async def one(r: dict) -> dict:
        if r["prompt"] not in answers:
            answers[r["prompt"]] = asyncio.ensure_future(deployed.answer(r["prompt"]))
        try:
            answer = await answers[r["prompt"]]
        except CALL_FAILURES as err:
            return {**r, "judge": {"fingerprint": fp, "answer": None, "error": f"deployed: {err}", "follows": None}}
        return {**r, "judge": {"fingerprint": fp, "answer": answer, "error": None,
                               **await judge.judge(r["preference"], r["original_query"], answer)}}
    todo = [r for r in records if (r.get("judge") or {}).get("fingerprint") != fp or r["judge"].get("error")]
    return await gather_limited([one(r) for r in todo], limit)


def _judge(p: ml_collections.ConfigDict) -> FourCheckJudge:
    from personax.llm.config import make_chat_client
    from personax.rewards.config import role_model
    return FourCheckJudge(make_chat_client(p.judge.llm), role_model(p.judge, "prefeval judge"),
                          json_mode=p.judge.json_mode, max_tokens=p.judge.llm.max_tokens)


def _load_deployed(p: ml_collections.ConfigDict):
    from personax.models import hub
    model, _, tok = hub.load(p.deployed.model, param_dtype=p.deployed.dtype or None, dtype=p.deployed.dtype or None)
    if tok is None:
        raise ValueError(f"prefeval.deployed.model {p.deployed.model!r} ships no tokenizer")
    return model, tok


def run_prefeval(cfg: ml_collections.ConfigDict, workdir: str | pathlib.Path, deployed_model=None,
                 judge: FourCheckJudge | None = None) -> dict:
    """`deployed_model`: a (model, tokenizer) pair instead of loading `prefeval.deployed.model`;
    `judge`: a judge instead of the one `prefeval.judge.llm` names (both for tests)."""
    from personax.eval.run import build_summarizer

    workdir, p = pathlib.Path(workdir), cfg.prefeval
    if not p.data_dir:
        raise ValueError("prefeval.data_dir is not set: point it at a directory in PrefEval's layout")
    items = load_prefeval(p.data_dir, p.forms, p.topics, p.per_topic, p.seed)
    names = _method_names(p)
    model, tok = deployed_model or _load_deployed(p)
    client = LocalChatClient(model, tok, LocalOptions(name=p.deployed.model, temperature=0.0, truncate="left",
                                                      max_tokens=p.deployed.answer_max_tokens))
    answerer = ChatDeployed(client, p.deployed.model, temperature=0.0, max_tokens=p.deployed.answer_max_tokens)
    policy_workdir = pathlib.Path(p.policy_workdir) if p.policy_workdir else workdir
    ctx = MethodContext(cfg, policy_workdir, answerer, build_summarizer(cfg, answerer), p.concurrency)
    store = ItemStore(workdir / "report" / "prefeval_items.jsonl")
    mcq = Deployed(tok, LogprobScorer(model, tok.pad_id or 0, p.deployed.batch_size))
    config_fp = fingerprint(p.deployed.model, p.deployed.dtype, sorted(p.mcq.scorers), p.seed, MCQ_REQUEST)
    session = Session(cfg, store, mcq, ctx, config_fp)

    async def go() -> tuple[dict[str, str], dict[str, int]]:
        notes = {}
        for name in names:
            note = await run_method(session, name, items)
            if note:
                notes[name] = note
        if not p.judge.enabled:
            return notes, {}
        j = judge or _judge(p)
        judge_fp = fingerprint(p.judge.llm.models, SYSTEMS, p.deployed.model, p.deployed.answer_max_tokens)
        scored = [store.items[(i.example.state_id, n)] for n in names if n not in notes for i in items]
        store.add(await judge_items(scored, answerer, j, judge_fp, p.concurrency))
        return notes, dict(j.stats)
    try:
        notes, judge_stats = asyncio.run(go())
    finally:
        client.close()
    store.compact()
    by_method = {n: [store.items[(i.example.state_id, n)] for i in items] for n in names if n not in notes}
    summary = summarize(by_method, p, notes, judge_stats)
    summary.update(n_items=len(items), data_dir=str(p.data_dir), deployed=p.deployed.model,
                   topics=sorted({i.topic for i in items}), forms=list(p.forms))
    (workdir / "report").mkdir(parents=True, exist_ok=True)
    (workdir / "report" / "prefeval_summary.json").write_text(json.dumps(summary, indent=1))
    write_prefeval_report(summary, by_method, workdir / "report", plots=p.plots)
    return summary
