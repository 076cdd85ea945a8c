"""The evaluation harness (SPEC §2.4): every method's prompt -> the deployed LLM's answer -> judges.

Each answer is scored on its own (strict personalization against the true persona, lenient task
completion against the ORIGINAL query), and pairwise against the answer to the original query in both
A/B orders. One JSON line per (state, method) in `items.jsonl`, appended as each method finishes, so
a resumed run redoes only what is missing, failed, or was scored under another configuration.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import os
import pathlib
from typing import Any, Sequence

from personax.data.examples import PPOptExample
from personax.eval.judges import Judges
from personax.eval.methods import Method, MethodContext, MethodOutput, MethodSkipped, gather_limited
from personax.eval.stats import OUTCOMES, summarize_method
from personax.llm.deployed import CALL_FAILURES, DeployedLLM
from personax.rewards.judged import profile_rating

log = logging.getLogger(__name__)
BASELINE = "original"


def both_orders(method_first: str | None, original_first: str | None) -> str | None:
    """win / lose only when the two A/B orders agree on the method's answer; any disagreement (or a
    tie in either order) is a tie; None when a judgement is missing."""
    if method_first is None or original_first is None:
        return None
    if method_first == "A" and original_first == "B":
        return "win"
    if method_first == "B" and original_first == "A":
        return "lose"
    return "tie"


def fingerprint(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


class ItemStore:
    """`items.jsonl`: the last line per (state_id, method) wins; only lines scored under the current
    fingerprint and without an error count as done."""

    def __init__(self, path: pathlib.Path):
        self.path = path
        self.items: dict[tuple[str, str], dict] = {}
        if path.exists():
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    item = json.loads(line)
                    self.items[(item["state_id"], item["method"])] = item
                except (json.JSONDecodeError, KeyError, TypeError) as err:
                    raise ValueError(f"{path}:{n}: not an evaluation item ({err}); delete the file to start "
                                     "over") from None

    def done(self, example: PPOptExample, method: str, fp: str) -> dict | None:
        item = self.items.get((example.state_id, method))
        current = item and item["fingerprint"] == fp and item["original_query"] == example.original_query
        return item if current and not item.get("error") else None

    def compact(self) -> None:
        """Rewrites the file with one line per (state, method): the superseded lines go."""
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in self.items.values()), encoding="utf-8")
        os.replace(tmp, self.path)

    def add(self, items: Sequence[dict]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            for item in items:
                f.write(json.dumps(item, ensure_ascii=False) + "\n")
                self.items[(item["state_id"], item["method"])] = item


def _finite(x: float) -> float | None:
    return x if x is not None and math.isfinite(x) else None


class Harness:
    def __init__(self, deployed: DeployedLLM, judges: Judges, store: ItemStore, config_fp: str, concurrency: int,
                 answers: dict[tuple[str, int], asyncio.Future] | None = None, answers_per_prompt: int = 1):
        if answers_per_prompt < 1:
            raise ValueError(f"eval.answers_per_prompt must be >= 1, got {answers_per_prompt}")
        self.deployed, self.judges, self.store = deployed, judges, store
        self.config_fp, self.concurrency, self.answers_per_prompt = config_fp, concurrency, answers_per_prompt
        # A prompt asked twice (a rewrite that fell back to the query) gets the same answers, paid once;
        # harnesses on one event loop may share the dict (the robustness points all ask the original query).
        self._answers = {} if answers is None else answers

    async def _answer(self, prompt: str, k: int) -> str:
        if (prompt, k) not in self._answers:
            self._answers[(prompt, k)] = asyncio.ensure_future(self.deployed.answer(prompt, sample_index=k))
        return await self._answers[(prompt, k)]

    async def _score(self, e: PPOptExample, out: MethodOutput, baseline: dict | None) -> dict:
        item = await self._score_answer(e, out, baseline)
        if "profile" in out.extra:  # a policy's explicit profile, judged as the GRPO profile reward is
            item["profile"] = _finite(await profile_rating(self.judges, out.extra["profile"] or "", e.persona))
        return item

    async def _score_answer(self, e: PPOptExample, out: MethodOutput, baseline: dict | None) -> dict:
        """The prompt's `answers_per_prompt` answers (deployed sample indices 0..K-1), each judged; the item's
        personalization and task are their means and `outcomes` the share of each pairwise outcome, where
        answer k is compared with the original query's answer k."""
        item: dict[str, Any] = {"state_id": e.state_id, "persona_id": e.persona_id, "original_query": e.original_query,
                                "prompt": out.prompt, "status": out.status, "extra": out.extra, "error": None}
        try:
            answers = await asyncio.gather(*(self._answer(out.prompt, k) for k in range(self.answers_per_prompt)))
        except CALL_FAILURES as err:
            return {**item, "error": f"deployed: {err}", "answer": None}
        item["answer"] = answers[0]
        if baseline is not None and baseline.get("answer") is None:
            # No baseline answer to compare with: scored, but marked so a resume redoes it.
            item["error"], baseline = "the original query's answer is missing (its call failed)", None
        base = baseline["samples"] if baseline is not None else [None] * len(answers)
        item["samples"] = list(await asyncio.gather(*(self._judge(e, a, b) for a, b in zip(answers, base))))
        for key in ("personalization", "task"):
            scores = [s[key] for s in item["samples"] if s[key] is not None]
            item[key] = sum(scores) / len(scores) if scores else None
        if baseline is not None:
            outcomes = [s["outcome"] for s in item["samples"] if s["outcome"] is not None]
            item["outcomes"] = {o: outcomes.count(o) / len(outcomes) for o in OUTCOMES} if outcomes else None
        return item

    async def _judge(self, e: PPOptExample, answer: str, baseline: dict | None) -> dict:
        """One answer's scores; with the original query's sample `baseline`, the pairwise verdicts too."""
        sample: dict[str, Any] = {"answer": answer}
        if baseline is not None and answer == baseline["answer"]:
            # Same answer as the baseline's: same scores, a tie, and no judge is paid to say so.
            return {**sample, "personalization": baseline["personalization"], "task": baseline["task"],
                    "pairwise": {"method_first": "tie", "original_first": "tie"}, "outcome": "tie"}
        judged = [self.judges.personalization(e.persona, e.original_query, answer),
                  self.judges.task_completion(e.original_query, answer)]
        if baseline is not None:
            judged += [self.judges.pairwise(e.persona, e.original_query, answer, baseline["answer"]),
                       self.judges.pairwise(e.persona, e.original_query, baseline["answer"], answer)]
        scores = await asyncio.gather(*judged)
        sample.update(personalization=_finite(scores[0]), task=_finite(scores[1]), outcome=None)
        if baseline is not None:
            sample["pairwise"] = {"method_first": scores[2], "original_first": scores[3]}
            sample["outcome"] = both_orders(scores[2], scores[3])
        return sample

    async def run_method(self, method: Method, examples: Sequence[PPOptExample], ctx: MethodContext) -> str | None:
        """Scores the method on every example not already done; returns a note when it was skipped."""
        try:
            version = method.version(ctx)
        except MethodSkipped as skip:
            log.warning("eval: method %s skipped: %s", method.name, skip)
            return str(skip)
        fp = fingerprint(self.config_fp, method.name, version)
        todo = [e for e in examples if not self.store.done(e, method.name, fp)]
        if not todo:
            return None
        # A method's prompt is a function of the state text (and the state's persona), so a robustness point
        # that leaves a state as it was reuses the prompt instead of sampling a policy again.
        memo = ctx.memo.setdefault(f"prompts/{method.name}@{version}", {})
        fresh = list({(e.state_id, e.input): e for e in todo if (e.state_id, e.input) not in memo}.values())
        if fresh:
            outputs = await method.prompts(fresh, ctx)
            if len(outputs) != len(fresh):
                raise RuntimeError(f"eval method {method.name} returned {len(outputs)} prompts for {len(fresh)} states")
            memo.update(zip(((e.state_id, e.input) for e in fresh), outputs))
        outputs = [memo[(e.state_id, e.input)] for e in todo]
        baselines = [None if method.name == BASELINE else self.store.items[(e.state_id, BASELINE)] for e in todo]
        items = await gather_limited([self._score(e, o, b) for e, o, b in zip(todo, outputs, baselines)],
                                     self.concurrency)
        self.store.add([{**item, "method": method.name, "version": version, "fingerprint": fp} for item in items])
        return None

    async def run_methods(self, methods: Sequence[Method], examples: Sequence[PPOptExample], ctx: MethodContext
                          ) -> dict[str, str]:
        """Each method in turn (the baseline first); -> {skipped method: why}."""
        notes = {}
        for m in methods:
            note = await self.run_method(m, examples, ctx)
            if note:
                notes[m.name] = note
        return notes


def scored_items(store: ItemStore, names: Sequence[str], examples: Sequence[PPOptExample]) -> dict[str, list[dict]]:
    """method -> its stored items for these examples, in example order."""
    return {name: [store.items[(x.state_id, name)] for x in examples if (x.state_id, name) in store.items]
            for name in names}


def summarize_methods(by_method: dict[str, list[dict]], seed: int, samples: int, confidence: float,
                      weights: dict[str, float] | None = None) -> dict[str, dict]:
    baseline = {i["state_id"]: i for i in by_method[BASELINE]}
    return {name: summarize_method(items, baseline, seed, samples, confidence, weights)
            for name, items in by_method.items()}
