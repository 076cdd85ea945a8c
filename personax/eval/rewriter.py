"""`generic_rewriter` (SPEC §2.5): a BPO-style, history-free prompt rewriter. It sees the query alone, no
history and no persona, and makes it clearer and more detailed; whatever it gains is what any prompt
polishing gains, so PPOpt's margin over it is the part that comes from knowing the user.

Backends (`eval.rewriter.backend`): "base", the experiment's policy base model with no training (the
weights `ppopt_zero_shot` samples), greedy on the KV-cache sampler through `sample_rewrites`; or
"hosted", the chat model in `eval.rewriter.llm`. Empty or failed output falls back to the query.
"""
from __future__ import annotations

import dataclasses
import hashlib
from typing import Sequence

from personax.data.examples import PPOptExample
from personax.data.policy_io import parse_output
from personax.eval.methods import MethodContext, MethodOutput, gather_limited, method
from personax.llm.deployed import CALL_FAILURES

REWRITE_REQUEST = (
    "You improve prompts before they are sent to an AI assistant. Rewrite the request below so that the "
    "assistant can answer it well: state the goal plainly, keep every detail and constraint the request "
    "gives, and say what a complete, useful answer should cover. Do not answer the request and do not "
    "invent facts about the person asking.\n\n"
    "Request:\n{query}\n\n"
    "Write only the improved prompt, between <PROMPT> and </PROMPT>.")


def rewrite_request(query: str) -> str:
    return REWRITE_REQUEST.format(query=query)


def _version(ctx: MethodContext) -> str:
    r = ctx.cfg.eval.rewriter
    request = hashlib.sha256(REWRITE_REQUEST.encode()).hexdigest()[:8]
    if r.backend == "base":
        return f"base:{ctx.cfg.model.name}/{ctx.cfg.model.init}#{request}"
    if r.backend == "hosted":
        return f"hosted:{r.llm.models}#{request}"
    raise ValueError(f"eval.rewriter.backend must be 'base' or 'hosted', got {r.backend!r}")


def _parsed(query: str, text: str) -> MethodOutput:
    parsed = parse_output(text, query)
    return MethodOutput(parsed.prompt, parsed.status, {"raw": text})


async def _hosted(examples: Sequence[PPOptExample], ctx: MethodContext) -> list[MethodOutput]:
    if ctx.rewriter is None:
        raise ValueError("eval.rewriter.backend is 'hosted' but the method context has no rewriter LLM")

    async def one(query: str) -> MethodOutput:
        try:
            return _parsed(query, await ctx.rewriter.answer(rewrite_request(query)))
        except CALL_FAILURES as err:  # the item falls back to the bare query and is counted, not lost
            return MethodOutput(query, status="empty", extra={"error": f"rewriter: {err}"})
    return await gather_limited([one(e.original_query) for e in examples], ctx.concurrency)


async def _base(examples: Sequence[PPOptExample], ctx: MethodContext) -> list[MethodOutput]:
    from personax.eval.policy_methods import sample_rewrites
    from personax.train.policy_init import load_policy

    model, tok = load_policy(ctx.cfg, ctx.workdir, "zero_shot")
    # The sampler reads each example's `input` as the user turn: here the rewrite request, not the state.
    requests = [dataclasses.replace(e, input=rewrite_request(e.original_query)) for e in examples]
    return [_parsed(e.original_query, text) for e, text in zip(examples, sample_rewrites(model, tok, requests, ctx))]


BACKENDS = {"base": _base, "hosted": _hosted}


@method("generic_rewriter", version=_version)
async def generic_rewriter(examples, ctx: MethodContext) -> list[MethodOutput]:
    """One rewrite per distinct query, remembered on the context: the robustness sweeps change only the
    history, which this method never reads."""
    memo = ctx.memo.setdefault(f"generic_rewriter/{_version(ctx)}", {})
    todo = list({e.original_query: e for e in examples if e.original_query not in memo}.values())
    if todo:
        outputs = await BACKENDS[ctx.cfg.eval.rewriter.backend](todo, ctx)
        memo.update(zip((e.original_query for e in todo), outputs))
    return [memo[e.original_query] for e in examples]
