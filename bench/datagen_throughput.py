"""PersonaGym throughput against the local OpenAI-compatible server with a fixed latency.

    .venv/bin/python bench/datagen_throughput.py --personas 20 --latency 0.1 --concurrency 16

Every call of a conversation waits for the previous one, so with C conversations in flight and
k calls per conversation of latency L the bound is C / (k * L) conversations per second. We report
the measured rate as a fraction of that bound (k measured from the run's own call count).
The persona `others` role stays sim so that only conversation work is timed.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import pathlib
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from data_gen.config import base_config, role  # noqa: E402
from data_gen.runner import generate  # noqa: E402
import personax.llm.config  # noqa: E402,F401  (imports the openai SDK before the clock starts)
from personax.llm.local_server import LocalChatServer  # noqa: E402
from personax.llm.sim.responder import datagen_responder  # noqa: E402


def config(base_url: str, personas: int, concurrency: int):
    c = base_config()
    c.progress = False
    c.num_personas = personas
    c.concurrency = concurrency
    # The HTTP bound is set above the conversation bound so that the latter is what binds.
    http = dict(base_url=base_url, api_key_env="", concurrency=4 * concurrency, timeout_s=30.0)
    c.roles = dict(style=role("hosted", "local", **http), user=role("hosted", "local", **http),
                   distractor=role("hosted", "local", **http), others=role(),
                   assistant=role("hosted", "local", models=(("local-a", 0.5), ("local-b", 0.5)), **http))
    return c


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--personas", type=int, default=20)
    ap.add_argument("--latency", type=float, default=0.1)
    ap.add_argument("--concurrency", type=int, default=16)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as work, LocalChatServer(datagen_responder, latency_s=args.latency) as srv:
        start = time.perf_counter()
        result = asyncio.run(generate(config(srv.base_url, args.personas, args.concurrency), work))
        wall = time.perf_counter() - start
        calls = srv.stats.requests
    per_conv = calls / result.done
    measured = result.done / wall * 60
    bound = args.concurrency / (per_conv * args.latency) * 60
    print(json.dumps({"conversations": result.done, "wall_s": round(wall, 2), "http_calls": calls,
                      "calls_per_conversation": round(per_conv, 2), "latency_s": args.latency,
                      "concurrency": args.concurrency, "conversations_per_min": round(measured, 1),
                      "bound_per_min": round(bound, 1), "fraction_of_bound": round(measured / bound, 3)}))


if __name__ == "__main__":
    main()
