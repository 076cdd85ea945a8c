"""Throughput of the local backend: N concurrent chat requests, batched vs one at a time.

    python -m personax.llm.local_bench --model smollm2-135m-instruct --requests 32 --max-batch 16

A warm-up pass compiles every program first, so the timed pass measures serving, not jit.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Sequence

from personax.llm.base import Message
from personax.llm.local import LocalChatClient, LocalOptions

QUESTIONS = ("What is the capital of France?", "Name three primary colours.",
             "How many days are in a leap year?", "What does a thermometer measure?",
             "Give one tip for writing clear emails.", "What is 15 plus 27?",
             "Why is the sky blue? Answer in one sentence.", "Translate 'good morning' into Spanish.")


def timed_pass(client: LocalChatClient, requests: int, temperature: float, max_tokens: int) -> dict:
    async def all_requests():
        return await asyncio.gather(*(client.chat(client.request(
            [Message("user", QUESTIONS[i % len(QUESTIONS)])], module="bench", temperature=temperature,
            max_tokens=max_tokens, sample_index=i)) for i in range(requests)))

    asyncio.run(all_requests())  # compiles
    batches = client.stats.batches
    start = time.perf_counter()
    answers = asyncio.run(all_requests())
    wall_s = time.perf_counter() - start
    tokens = sum(a.completion_tokens for a in answers)
    return {"max_batch": client.options.max_batch, "temperature": temperature, "requests": requests,
            "batches": client.stats.batches - batches, "wall_s": round(wall_s, 3),
            "requests_per_s": round(requests / wall_s, 2), "completion_tokens_per_s": round(tokens / wall_s, 1)}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--requests", type=int, default=32)
    parser.add_argument("--max-batch", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--dtype", default=None)
    args = parser.parse_args(argv)
    from personax.models import hub

    model, _, tokenizer = hub.load(args.model, param_dtype=args.dtype, dtype=args.dtype)
    for max_batch in (1, args.max_batch):
        client = LocalChatClient(model, tokenizer, LocalOptions(name=args.model, max_batch=max_batch))
        for temperature in (0.0, 0.7):
            print(json.dumps(timed_pass(client, args.requests, temperature, args.max_tokens)), flush=True)


if __name__ == "__main__":
    main()
