"""The hosted client against a real local OpenAI-compatible server."""
import asyncio
import json
import logging
import pathlib
import secrets
import subprocess
import sys
import time

import pytest

from personax.llm.accounting import Accounting
from personax.llm.base import Message
from personax.llm.cache import ResponseCache
from personax.llm.config import make_chat_client, role_config
from personax.llm.local_server import FaultPlan, LocalChatServer
from personax.llm.retry import LLMCallError

# A fresh fake key each run: a fixed key-shaped literal would sit in the repository like a leaked one.
SECRET = "sk-test-" + secrets.token_hex(8)
FAST = dict(api_key_env="", backoff_base_s=0.002, backoff_max_s=0.02, timeout_s=2.0)


def client_for(server, **overrides):
    cfg = role_config(base_url=server.base_url, models=(("local-echo", 1.0),), **{**FAST, **overrides})
    return make_chat_client(cfg)


def ask(client, text, **fields):
    return client.chat(client.request([Message("user", text)], module="test", **fields))


def run_many(client, texts, **fields):
    async def go():
        return await asyncio.gather(*(ask(client, t, **fields) for t in texts))
    return asyncio.run(go())


def test_normal_call_sends_request_and_counts_tokens():
    with LocalChatServer() as server:
        client = client_for(server, temperature=0.3, top_p=0.9, max_tokens=64)
        [response] = run_many(client, ["what is two plus two"])
        assert response.text == "echo: what is two plus two" and not response.cached
        assert (response.prompt_tokens, response.completion_tokens) == (5, 6)
        sent = server.received[0]
        assert (sent["model"], sent["temperature"], sent["top_p"], sent["max_tokens"]) == (
            "local-echo", 0.3, 0.9, 64)
        assert "response_format" not in sent
        totals = client.accounting.summary()["totals"]
        assert (totals["calls"], totals["prompt_tokens"], totals["completion_tokens"]) == (1, 5, 6)
        assert totals["retries"] == 0 and totals["faults"] == {}


@pytest.mark.parametrize("fault,kind", [
    ("rate_limit", "rate_limit"), ("server_error", "server_error"), ("unavailable", "server_error"),
    ("timeout", "timeout"), ("disconnect", "connection"), ("truncated", "bad_body"),
    ("non_json", "bad_body"), ("empty", "empty"),
])
def test_each_fault_is_retried_and_counted(fault, kind):
    with LocalChatServer(faults=FaultPlan(script=[fault]), hang_s=5.0) as server:
        client = client_for(server, timeout_s=0.3)
        [response] = run_many(client, ["hello"])
        assert response.text == "echo: hello"
        assert server.stats.requests == 2 and server.stats.faults == {fault: 1}
        totals = client.accounting.summary()["totals"]
        assert totals["faults"] == {kind: 1}
        assert (totals["retries"], totals["calls"], totals["failed_requests"]) == (1, 1, 0)


def test_retries_exhausted_raise_a_clear_error_and_count_the_failure():
    with LocalChatServer(faults=FaultPlan(script=["server_error"] * 3)) as server:
        client = client_for(server, max_retries=2)
        with pytest.raises(LLMCallError, match=r"module=test model=local-echo: server_error after 3"):
            run_many(client, ["hello"])
        assert server.stats.requests == 3
        totals = client.accounting.summary()["totals"]
        assert totals["failures"] == {"server_error": 1} and totals["failed_requests"] == 1
        assert totals["retries"] == 2 and totals["calls"] == 0


def test_client_errors_are_not_retried(monkeypatch):
    monkeypatch.setenv("PERSONAX_TEST_KEY", "sk-wrong")
    with LocalChatServer(api_key=SECRET) as server:
        client = client_for(server, api_key_env="PERSONAX_TEST_KEY")
        with pytest.raises(LLMCallError, match="client_error after 1 attempt"):
            run_many(client, ["hello"])
        assert server.stats.requests == 0  # refused at the door, before any work
        assert client.accounting.summary()["totals"]["failures"] == {"client_error": 1}


def test_retry_after_is_honoured():
    with LocalChatServer(faults=FaultPlan(script=["rate_limit"]), retry_after_s=0.4) as server:
        client = client_for(server)  # backoff alone would wait at most 2 ms
        start = time.perf_counter()
        run_many(client, ["hello"])
        assert 0.4 <= time.perf_counter() - start < 2.0


def test_concurrency_bound_is_respected():
    with LocalChatServer(latency_s=0.05) as server:
        client = client_for(server, concurrency=3)
        responses = run_many(client, [f"q{i}" for i in range(18)])
        assert [r.text for r in responses] == [f"echo: q{i}" for i in range(18)]
        assert server.stats.max_in_flight == 3


def test_cache_makes_a_rerun_free(tmp_path):
    texts = [f"question {i}" for i in range(6)]
    with LocalChatServer() as server:
        first = run_many(client_for(server, cache_dir=str(tmp_path)), texts)
        assert server.stats.requests == 6 and len(ResponseCache(tmp_path)) == 6
        rerun_client = client_for(server, cache_dir=str(tmp_path))
        rerun = run_many(rerun_client, texts)
        assert server.stats.requests == 6  # zero HTTP calls on the rerun
        assert [r.text for r in rerun] == [r.text for r in first] and all(r.cached for r in rerun)
        totals = rerun_client.accounting.summary()["totals"]
        assert (totals["calls"], totals["cache_hits"], totals["cached_prompt_tokens"]) == (0, 6, 12)
        # Anything that changes the answer changes the key.
        run_many(rerun_client, texts[:1], sample_index=1)
        run_many(rerun_client, texts[:1], temperature=0.1)
        assert server.stats.requests == 8


def test_identical_concurrent_requests_share_one_call(tmp_path):
    with LocalChatServer(latency_s=0.05) as server:
        client = client_for(server, cache_dir=str(tmp_path))
        responses = run_many(client, ["same"] * 5)
        assert server.stats.requests == 1
        assert sum(not r.cached for r in responses) == 1
        assert client.accounting.summary()["totals"]["cache_hits"] == 4


_WORKER = """
import asyncio, sys
from personax.llm.base import Message
from personax.llm.config import make_chat_client, role_config
cfg = role_config(base_url=sys.argv[1], api_key_env="", models="local-echo", cache_dir=sys.argv[2])
client = make_chat_client(cfg)
async def main():
    await asyncio.gather(*(client.chat(client.request([Message("user", f"q{i}")], module="w"))
                           for i in range(20)))
asyncio.run(main())
"""


def test_cache_is_safe_across_processes(tmp_path):
    with LocalChatServer(latency_s=0.01) as server:
        workers = [subprocess.Popen([sys.executable, "-c", _WORKER, server.base_url, str(tmp_path)],
                                    cwd=pathlib.Path(__file__).parents[1]) for _ in range(2)]
        assert [w.wait(timeout=60) for w in workers] == [0, 0]
        entries = list(tmp_path.glob("*/*.json"))
        assert len(entries) == 20 and not list(tmp_path.glob("*/*.tmp"))
        assert sorted(json.loads(e.read_text())["response"]["text"] for e in entries) == sorted(
            f"echo: q{i}" for i in range(20))
        before = server.stats.requests
        run_many(client_for(server, cache_dir=str(tmp_path)), [f"q{i}" for i in range(20)])
        assert server.stats.requests == before


def test_mixed_faults_complete_and_the_key_never_leaks(tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("PERSONAX_TEST_KEY", SECRET)
    texts = [f"request number {i}" for i in range(60)]
    # A 2 s timeout: on a loaded box an ordinary reply can take longer than 0.5 s, and a timeout the
    # server did not inject would break the exact fault accounting below.
    with LocalChatServer(faults=FaultPlan.mixed(0.3, seed=7), api_key=SECRET, hang_s=10.0) as server:
        client = client_for(server, api_key_env="PERSONAX_TEST_KEY", cache_dir=str(tmp_path / "cache"),
                            concurrency=8, timeout_s=2.0, max_retries=12)
        responses = run_many(client, texts)
        assert [r.text for r in responses] == [f"echo: {t}" for t in texts]
        report = client.accounting.write_report(tmp_path / "report.json")
    summary = json.loads(report.read_text())["totals"]
    injected = sum(server.stats.faults.values())
    assert injected >= 10 and summary["failed_requests"] == 0
    assert sum(summary["faults"].values()) == injected == summary["retries"]
    server_kind = {"rate_limit": "rate_limit", "server_error": "server_error",
                   "unavailable": "server_error", "timeout": "timeout", "disconnect": "connection",
                   "truncated": "bad_body", "non_json": "bad_body", "empty": "empty"}
    expected = {}
    for fault, n in server.stats.faults.items():
        expected[server_kind[fault]] = expected.get(server_kind[fault], 0) + n
    assert summary["faults"] == expected
    written = [p.read_text() for p in tmp_path.rglob("*") if p.is_file()]
    assert len(written) == 61
    assert not any(SECRET in text for text in written)
    assert SECRET not in caplog.text and "retrying" in caplog.text


def test_client_survives_a_second_event_loop():
    with LocalChatServer() as server:
        client = client_for(server)
        assert run_many(client, ["a"])[0].text == "echo: a"
        assert run_many(client, ["b"])[0].text == "echo: b"


def test_model_pool_draws_per_key_and_refuses_to_guess():
    with LocalChatServer(models=("m-a", "m-b")) as server:
        cfg = role_config(base_url=server.base_url, models="m-a=0.5,m-b=0.5", **FAST)
        client = make_chat_client(cfg, accounting=Accounting())
        requests = [client.request([Message("user", "hi")], module="assistant", pool_key=f"conv{i}")
                    for i in range(40)]
        assert {r.model for r in requests} == {"m-a", "m-b"}

        async def go():
            return await asyncio.gather(*(client.chat(r) for r in requests))
        asyncio.run(go())
        assert sorted(b["model"] for b in server.received) == sorted(r.model for r in requests)
        assert set(client.accounting.summary()["by_model"]) == {"m-a", "m-b"}
        with pytest.raises(ValueError, match="pool_key"):
            client.request([Message("user", "hi")], module="assistant")


def test_whole_attempt_is_bounded_even_if_bytes_keep_trickling(monkeypatch):
    # A server that keeps sending a byte now and then never trips the SDK's per-read timeout;
    # the client's own bound on the whole attempt must end it.
    with LocalChatServer() as server:
        client = client_for(server, timeout_s=0.2, max_retries=1)

        async def go():
            client._bind_loop()

            async def endless_trickle(**kwargs):
                await asyncio.sleep(3600)
            monkeypatch.setattr(client._sdk.chat.completions.with_raw_response, "create", endless_trickle)
            return await ask(client, "hello")

        start = time.perf_counter()
        with pytest.raises(LLMCallError, match="timeout after 2 attempt"):
            asyncio.run(go())
        assert time.perf_counter() - start < 2.0
        assert client.accounting.summary()["totals"]["faults"] == {"timeout": 2}


def test_a_waiter_makes_the_call_itself_when_the_shared_call_is_cancelled(tmp_path):
    with LocalChatServer(latency_s=0.3) as server:
        client = client_for(server, cache_dir=str(tmp_path))

        async def go():
            leader = asyncio.create_task(ask(client, "same"))
            await asyncio.sleep(0.05)
            follower = asyncio.create_task(ask(client, "same"))
            await asyncio.sleep(0.05)
            leader.cancel()
            return await follower, leader

        response, leader = asyncio.run(go())
        assert leader.cancelled() and response.text == "echo: same" and not response.cached
        assert server.stats.requests == 2
