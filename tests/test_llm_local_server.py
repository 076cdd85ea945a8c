"""The local OpenAI-compatible server, spoken to over plain HTTP."""
import http.client
import json
import socket
import time

import pytest

from personax.llm.local_server import FAULTS, FaultPlan, LocalChatServer


def post(server, body, headers=None, timeout=5.0):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
    conn.request("POST", "/v1/chat/completions", json.dumps(body),
                 {"Content-Type": "application/json", **(headers or {})})
    response = conn.getresponse()
    return response.status, dict(response.getheaders()), response.read()


CHAT = {"model": "local-echo", "messages": [{"role": "system", "content": "be brief"},
                                            {"role": "user", "content": "hello there"}]}


def test_completion_models_and_auth():
    with LocalChatServer(responder=lambda req: req["model"].upper(), api_key="k1",
                         models=("m1", "m2")) as server:
        assert server.base_url == f"http://127.0.0.1:{server.port}/v1" and server.port > 0
        status, _, body = post(server, CHAT, {"Authorization": "Bearer k1"})
        answer = json.loads(body)
        assert status == 200 and answer["choices"][0]["message"]["content"] == "LOCAL-ECHO"
        assert answer["usage"] == {"prompt_tokens": 4, "completion_tokens": 1, "total_tokens": 5}
        assert post(server, CHAT)[0] == 401
        assert post(server, CHAT, {"Authorization": "Bearer k2"})[0] == 401
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        conn.request("GET", "/v1/models", headers={"Authorization": "Bearer k1"})
        models = json.loads(conn.getresponse().read())
        assert [m["id"] for m in models["data"]] == ["m1", "m2"]
        assert server.stats.requests == 1 and server.stats.ok == 1


def test_scripted_faults_look_like_real_failures():
    script = ["rate_limit", "server_error", "unavailable", "truncated", "non_json", "empty", None]
    with LocalChatServer(faults=FaultPlan(script=script), retry_after_s=1.5) as server:
        status, headers, _ = post(server, CHAT)
        assert status == 429 and headers["Retry-After"] == "1.5"
        assert post(server, CHAT)[0] == 500
        assert post(server, CHAT)[0] == 503
        status, headers, body = post(server, CHAT)
        assert status == 200 and int(headers["Content-Length"]) == len(body)
        with pytest.raises(ValueError):
            json.loads(body)
        status, headers, body = post(server, CHAT)
        assert headers["Content-Type"] == "text/html" and body.startswith(b"<html>")
        assert json.loads(post(server, CHAT)[2])["choices"][0]["message"]["content"] == ""
        assert json.loads(post(server, CHAT)[2])["choices"][0]["message"]["content"] == "echo: hello there"
        assert server.stats.faults == {f: 1 for f in script if f} and server.stats.ok == 1


def test_timeout_and_disconnect_faults():
    with LocalChatServer(faults=FaultPlan(script=["timeout", "disconnect"]), hang_s=10.0) as server:
        with pytest.raises(socket.timeout):
            post(server, CHAT, timeout=0.3)
        with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
            post(server, CHAT)
        assert post(server, CHAT)[0] == 200
        assert server.stats.requests == 3 and server.stats.in_flight == 0


def test_fault_plans_are_seeded_and_validated():
    plans = [FaultPlan.mixed(0.3, seed=s) for s in (1, 1, 2)]
    draws = [[plan.next() for _ in range(400)] for plan in plans]
    assert draws[0] == draws[1] != draws[2]
    rate = sum(d is not None for d in draws[0]) / 400
    assert 0.22 < rate < 0.38 and set(d for d in draws[0] if d) == set(FAULTS)
    with pytest.raises(ValueError, match="unknown fault 'teapot'"):
        FaultPlan(script=["teapot"])
    with pytest.raises(ValueError, match="sum to <= 1"):
        FaultPlan(probs={"empty": 0.7, "timeout": 0.6})


def test_latency_and_routes():
    with LocalChatServer(latency_s=0.2) as server:
        start = time.perf_counter()
        assert post(server, CHAT)[0] == 200
        assert time.perf_counter() - start >= 0.2
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        conn.request("POST", "/v1/completions", "{}")
        assert conn.getresponse().status == 404


def test_loadtest_reports_a_complete_run():
    from personax.llm.loadtest import run
    result = run(requests=30, latency_s=0.0, concurrency=4, fault_rate=0.3, seed=1)
    assert result["failed_requests"] == 0 and sum(result["faults"].values()) >= 3
    assert result["server_max_in_flight"] <= 4 and result["requests_per_s"] > 0


def test_start_is_idempotent_and_stop_is_prompt_while_a_request_is_held():
    with LocalChatServer(faults=FaultPlan(script=["timeout"]), hang_s=60.0).start() as server:
        assert server.start() is server
        with pytest.raises(socket.timeout):
            post(server, CHAT, timeout=0.2)
        assert post(server, CHAT)[0] == 200
        start = time.perf_counter()
    assert time.perf_counter() - start < 1.0
    server.stop()  # stopping twice is harmless
