"""Evaluation methods (SPEC §2.5): each turns held-out states into the prompts sent to the deployed LLM.

A method is registered by name with two functions: `prompts(examples, ctx)` (async, batched: one
`MethodOutput` per example, in order) and `version(ctx)`, a short string that changes whenever the
method's prompts would (a checkpoint step, the retrieval k), so a resumed evaluation knows which
stored items are still valid. A method that cannot run here (e.g. no checkpoint for its stage)
raises `MethodSkipped` from `version` with the reason.
"""
from __future__ import annotations

import asyncio
import dataclasses
import pathlib
from typing import Any, Awaitable, Callable, Sequence

import ml_collections

from personax.data.examples import PPOptExample
from personax.eval.history import render_history, top_k_turns
from personax.llm.deployed import CALL_FAILURES, DeployedLLM
from personax.llm.sim.world import load_world
from personax.registry import Registry


class MethodSkipped(Exception):
    """The method cannot run in this workdir; the message says why (it goes into the report)."""


@dataclasses.dataclass(frozen=True)
class MethodOutput:
    prompt: str  # what the deployed LLM receives
    status: str = "ok"  # policy methods: the parse status ("ok", "no_prompt_tag", "empty" = fell back)
    extra: dict[str, str] = dataclasses.field(default_factory=dict)  # e.g. the policy's profile


@dataclasses.dataclass
class MethodContext:
    cfg: ml_collections.ConfigDict  # the whole experiment config
    workdir: pathlib.Path
    deployed: DeployedLLM
    summarizer: DeployedLLM  # answers the profile_summary method's request
    concurrency: int = 16
    rewriter: DeployedLLM | None = None  # generic_rewriter's hosted LLM (None: the base model rewrites)
    # Results a method may reuse across calls on the same context: the robustness sweeps call each
    # method once per point, and a history-free method would otherwise redo the same work each time.
    memo: dict[str, Any] = dataclasses.field(default_factory=dict)


PromptsFn = Callable[[Sequence[PPOptExample], MethodContext], Awaitable[list[MethodOutput]]]
VersionFn = Callable[[MethodContext], str]


@dataclasses.dataclass(frozen=True)
class Method:
    name: str
    prompts: PromptsFn
    version: VersionFn


METHODS: Registry[Any] = Registry("eval method")


def method(name: str, version: VersionFn = lambda ctx: "1"):
    def deco(fn: PromptsFn) -> PromptsFn:
        METHODS.register(name)(Method(name, fn, version))
        return fn
    return deco


def get_method(name: str) -> Method:
    _load_policy_methods()
    return METHODS.get(name)


def method_names() -> list[str]:
    _load_policy_methods()
    return METHODS.names()


def _load_policy_methods() -> None:
    from personax.eval import policy_methods, rewriter  # noqa: F401  (register ppopt_*, generic_rewriter)


async def gather_limited(coros: Sequence[Awaitable], limit: int) -> list:
    semaphore = asyncio.Semaphore(max(1, limit))

    async def one(coro):
        async with semaphore:
            return await coro
    return list(await asyncio.gather(*(one(c) for c in coros)))


def _each(build: Callable[[PPOptExample, MethodContext], str]) -> PromptsFn:
    async def prompts(examples, ctx):
        return [MethodOutput(build(e, ctx)) for e in examples]
    return prompts


def with_history(example: PPOptExample, reminder: str = "") -> str:
    tail = f"\n\n{reminder}" if reminder else ""
    return ("Here are my earlier conversations with you (my messages only):\n\n"
            f"{render_history(example.history_texts)}{tail}\n\nMy new request:\n{example.original_query}")


def persona_lines(persona: dict[str, str]) -> list[str]:
    """The true persona as one line per trait: the world table's clearest instruction for the trait where
    it has one ("Format the answer as a table."), else "dimension: value"."""
    world, lines = load_world(), []
    for dim, value in sorted(persona.items()):
        trait = world.traits.get(dim)
        asks = trait.instructions_for(value) if trait is not None else ()
        lines.append(asks[0].text if asks else f"{dim.replace('_', ' ')}: {value.replace('_', ' ')}")
    return lines


method("original")(_each(lambda e, ctx: e.original_query))
method("full_history")(_each(lambda e, ctx: with_history(e)))
method("full_history_reminder", version=lambda ctx: ctx.cfg.eval.reminder)(
    _each(lambda e, ctx: with_history(e, ctx.cfg.eval.reminder)))
method("oracle")(_each(lambda e, ctx: "About me:\n" + "\n".join(f"- {line}" for line in persona_lines(e.persona))
                       + f"\n\n{e.original_query}"))


@method("retrieval_topk", version=lambda ctx: f"k={ctx.cfg.eval.retrieval_k}")
async def retrieval_topk(examples, ctx):
    out = []
    for e in examples:
        turns = top_k_turns(e.history_texts, e.original_query, ctx.cfg.eval.retrieval_k)
        past = "\n".join(f"- {t}" for t in turns)
        out.append(MethodOutput(f"Some things I said to you before:\n{past}\n\nMy new request:\n{e.original_query}"))
    return out


SUMMARY_REQUEST = (
    "Below are the messages a user sent to an assistant in earlier conversations.\n\n{history}\n\n"
    "Describe this user's preferences for answers (length, format, tone, technical level, examples, "
    "and anything else the messages reveal) as a short profile of a few bullet points. Write only the profile.")


def _summary_version(ctx: MethodContext) -> str:
    s = ctx.cfg.eval.summarizer
    return "deployed" if s.backend == "deployed" else f"hosted:{s.llm.models}"


@method("profile_summary", version=_summary_version)
async def profile_summary(examples, ctx):
    """An untrained LLM condenses the history into a profile, which is prepended to the query."""
    async def one(e: PPOptExample) -> MethodOutput:
        try:
            summary = (await ctx.summarizer.answer(SUMMARY_REQUEST.format(history=render_history(e.history_texts))))
        except CALL_FAILURES as err:  # the item falls back to the bare query and is counted, not lost
            return MethodOutput(e.original_query, status="empty", extra={"error": f"summarizer: {err}"})
        if not summary.strip():
            return MethodOutput(e.original_query, status="empty", extra={"summary": summary})
        return MethodOutput(f"About me (from our earlier conversations):\n{summary.strip()}\n\nMy new request:\n"
                            f"{e.original_query}", extra={"summary": summary})
    return await gather_limited([one(e) for e in examples], ctx.concurrency)
