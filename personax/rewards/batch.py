"""One GRPO step's rollouts with everything the rewards read, and the deployed-LLM calls that
fill in the answers (SPEC §2.3: once per original query, once per rewrite)."""
from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Sequence

from personax.data.examples import PPOptExample
from personax.data.policy_io import ParsedOutput, parse_output
from personax.llm.deployed import CALL_FAILURES, DeployedLLM

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Answers:
    original: str | None  # the deployed LLM's answer to the original query; None: the call failed
    rewrite: str | None  # ... and to the policy's rewrite
    error: str | None = None  # why an answer is missing

    @property
    def ok(self) -> bool:
        return self.original is not None and self.rewrite is not None


@dataclasses.dataclass(frozen=True)
class Rollout:
    example: PPOptExample  # persona (ground truth) and original query
    text: str  # the raw policy completion
    parsed: ParsedOutput  # reasoning (the inferred profile), prompt (the rewrite), status
    answers: Answers


@dataclasses.dataclass(frozen=True)
class RolloutBatch:
    """N = prompts × G completions, prompt-major, in the sampler's order."""
    rollouts: tuple[Rollout, ...]

    def __len__(self) -> int:
        return len(self.rollouts)

    @classmethod
    def build(cls, examples: Sequence[PPOptExample], texts: Sequence[str], parsed: Sequence[ParsedOutput],
              answers: Sequence[Answers]) -> "RolloutBatch":
        sizes = {"examples": len(examples), "texts": len(texts), "parsed": len(parsed), "answers": len(answers)}
        if len(set(sizes.values())) != 1:
            raise ValueError(f"RolloutBatch: per-completion inputs differ in length: {sizes}")
        return cls(tuple(Rollout(*row) for row in zip(examples, texts, parsed, answers)))


async def build_rollout_answers(examples: Sequence[PPOptExample], parsed: Sequence[ParsedOutput],
                                deployed: DeployedLLM, concurrency: int = 16) -> list[Answers]:
    """Asks the deployed LLM once per distinct prompt (original queries are shared by a state's G
    completions; a rewrite equal to its query reuses that answer). Failures are recorded, not raised."""
    if len(examples) != len(parsed):
        raise ValueError(f"build_rollout_answers: {len(examples)} examples but {len(parsed)} parsed outputs")
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    prompts = list(dict.fromkeys([e.original_query for e in examples] + [p.prompt for p in parsed]))
    slots = asyncio.Semaphore(concurrency)

    async def ask(prompt: str) -> tuple[str | None, str | None]:
        async with slots:
            try:
                return await deployed.answer(prompt), None
            except CALL_FAILURES as err:
                log.warning("deployed LLM call failed: %s", err)
                return None, f"{type(err).__name__}: {err}"

    replies = dict(zip(prompts, await asyncio.gather(*(ask(p) for p in prompts))))
    out = []
    for example, p in zip(examples, parsed):
        (original, e1), (rewrite, e2) = replies[example.original_query], replies[p.prompt]
        out.append(Answers(original, rewrite, "; ".join(e for e in (e1, e2) if e) or None))
    return out


async def rollout_batch(examples: Sequence[PPOptExample], texts: Sequence[str], deployed: DeployedLLM,
                        concurrency: int = 16) -> RolloutBatch:
    """Parses the completions, asks the deployed LLM, and assembles the batch."""
    if len(examples) != len(texts):
        raise ValueError(f"rollout_batch: {len(examples)} examples but {len(texts)} completions")
    parsed = [parse_output(t, e.original_query) for e, t in zip(examples, texts)]
    answers = await build_rollout_answers(examples, parsed, deployed, concurrency)
    return RolloutBatch.build(examples, texts, parsed, answers)
