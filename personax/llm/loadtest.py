"""Load test: the hosted client against the local server, with latency and injected faults.

    python -m personax.llm.loadtest --requests 400 --latency-s 0.1 --concurrency 32 --fault-rate 0.3

Client and server share one process (and the GIL), so req/s is a floor on client throughput.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Sequence

from personax.llm.base import Message
from personax.llm.config import make_chat_client, role_config
from personax.llm.local_server import FaultPlan, LocalChatServer


def run(requests: int, latency_s: float, concurrency: int, fault_rate: float, seed: int = 0) -> dict:
    plan = FaultPlan.mixed(fault_rate, seed)
    with LocalChatServer(latency_s=latency_s, faults=plan, hang_s=5.0, keep_requests=False) as server:
        client = make_chat_client(role_config(
            base_url=server.base_url, api_key_env="", models="local-echo", concurrency=concurrency,
            timeout_s=1.0, max_retries=12, backoff_base_s=0.01, backoff_max_s=0.2, seed=seed))

        async def all_requests():
            return await asyncio.gather(*(
                client.chat(client.request([Message("user", f"q{i}")], module="loadtest"))
                for i in range(requests)))

        start = time.perf_counter()
        responses = asyncio.run(all_requests())
        wall_s = time.perf_counter() - start
    if [r.text for r in responses] != [f"echo: q{i}" for i in range(requests)]:
        raise RuntimeError("load test: some answers do not match their requests")
    totals = client.accounting.summary()["totals"]
    return {"requests": requests, "latency_s": latency_s, "concurrency": concurrency,
            "fault_rate": fault_rate, "wall_s": round(wall_s, 3),
            "requests_per_s": round(requests / wall_s, 1),
            "server_max_in_flight": server.stats.max_in_flight, "faults": totals["faults"],
            "failed_requests": totals["failed_requests"]}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--latency-s", type=float, default=0.1)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(json.dumps(run(args.requests, args.latency_s, args.concurrency, args.fault_rate, args.seed)))


if __name__ == "__main__":
    main()
