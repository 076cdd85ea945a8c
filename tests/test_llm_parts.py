"""Model pools, accounting, backoff, cache keys and role configs, without a server."""
import collections
import email.utils
import json
import random
import time

import pytest

from personax.llm.accounting import Accounting
from personax.llm.base import ChatRequest, ChatResponse, Message
from personax.llm.cache import ResponseCache, request_fields, request_key
from personax.llm.config import make_chat_client, role_config
from personax.llm.pool import PAPER_ASSISTANT_POOL, ModelPool, parse_models
from personax.llm.retry import RetryPolicy, retry_after_s


def test_parse_models_accepts_pairs_names_and_strings():
    assert parse_models((("a", 0.2), ("b", 0.8))) == (("a", 0.2), ("b", 0.8))
    assert parse_models(["a", "b"]) == (("a", 1.0), ("b", 1.0))
    assert parse_models("qwen2.5:7b=3, openai/gpt-4o-mini") == (("qwen2.5:7b", 3.0),
                                                                ("openai/gpt-4o-mini", 1.0))
    for bad, message in [((), "at least one"), ((("a", 0),), "weight must be > 0"),
                         ("a=x", "must be a number"), (["a", "a"], "duplicate"), ([3], "models\\[0\\]")]:
        with pytest.raises(ValueError, match=message):
            parse_models(bad)


def test_pool_draw_is_seeded_per_key_and_follows_the_weights():
    pool = ModelPool.from_spec(PAPER_ASSISTANT_POOL, seed=3)
    assert abs(sum(pool.probabilities.values()) - 1.0) < 1e-9
    draws = [pool.choose(f"conversation-{i}") for i in range(20000)]
    assert draws[:50] == [pool.choose(f"conversation-{i}") for i in range(50)]
    counts = collections.Counter(draws)
    for name, p in pool.probabilities.items():
        assert abs(counts[name] / len(draws) - p) < 0.015, name
    other = ModelPool.from_spec(PAPER_ASSISTANT_POOL, seed=4)
    assert sum(a != other.choose(f"conversation-{i}") for i, a in enumerate(draws[:200])) > 100


def test_retry_after_header_forms():
    assert retry_after_s({"retry-after": "2"}) == 2.0
    assert retry_after_s({"retry-after": "0.25"}) == 0.25
    assert retry_after_s({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    future = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 < retry_after_s({"retry-after": future}) <= 30
    assert retry_after_s({"retry-after": "soon"}) is None and retry_after_s(None) is None


def test_backoff_is_full_jitter_with_a_floor_from_the_server():
    policy = RetryPolicy(backoff_base_s=1.0, backoff_max_s=8.0, retry_after_cap_s=5.0)
    rng = random.Random(0)
    delays = [policy.delay_s(i, None, rng) for i in range(10) for _ in range(200)]
    assert min(delays) >= 0 and max(delays) <= 8.0
    assert max(policy.delay_s(0, None, rng) for _ in range(200)) <= 1.0
    assert max(policy.delay_s(6, None, rng) for _ in range(200)) > 4.0  # capped at 8, not 64
    assert all(policy.delay_s(0, 3.0, rng) >= 3.0 for _ in range(50))
    assert policy.delay_s(0, 1e6, rng) <= 8.0 and policy.delay_s(0, 1e6, rng) >= 5.0


def test_cache_key_covers_the_request_but_not_the_secret(tmp_path):
    request = ChatRequest(messages=(Message("user", "hi"),), model="m")
    fields = request_fields("http://x/v1/", request, "m")
    assert fields["base_url"] == "http://x/v1"
    key = request_key(fields)
    variants = [dict(fields, temperature=0.1), dict(fields, sample_index=1), dict(fields, model="n"),
                dict(fields, json_mode=True), dict(fields, messages=[["user", "hi!"]])]
    assert len({key, *(request_key(v) for v in variants)}) == 6
    cache = ResponseCache(tmp_path)
    assert cache.get(key) is None
    cache.put(key, fields, ChatResponse("hello", "m", 3, 1))
    assert cache.get(key) == ChatResponse("hello", "m", 3, 1, cached=True)
    (tmp_path / key[:2] / f"{key}.json").write_text("{truncated")
    with pytest.raises(ValueError, match="corrupt response-cache entry"):
        cache.get(key)


def test_accounting_costs_by_module_and_model(tmp_path):
    acc = Accounting(prices=[("big", 10.0, 30.0)])
    acc.add_prices([("small", 0.1, 0.4)])
    acc.record_call("assistant", "big", 1000, 500, 0.5)
    acc.record_call("assistant", "small", 2000, 1000, 0.1)
    acc.record_call("judge", "big", 100, 10, 0.2)
    acc.record_call("judge", "mystery", 100, 10, 0.2)
    acc.record_cache_hit("judge", "big", 100, 10)
    acc.record_fault("assistant", "big", "rate_limit", will_retry=True)
    acc.record_fault("judge", "small", "timeout", will_retry=False)
    s = acc.summary()
    assert s["by_model"]["big"]["cost_usd"] == pytest.approx((1100 * 10 + 510 * 30) / 1e6)
    assert s["by_module"]["assistant"]["cost_usd"] == pytest.approx(
        (1000 * 10 + 500 * 30 + 2000 * 0.1 + 1000 * 0.4) / 1e6)
    assert s["by_module"]["judge"]["saved_usd"] == pytest.approx((100 * 10 + 10 * 30) / 1e6)
    assert s["totals"]["calls"] == 4 and s["totals"]["cache_hits"] == 1
    assert s["totals"]["faults"] == {"rate_limit": 1, "timeout": 1}
    assert s["by_module"]["judge"]["failures"] == {"timeout": 1}
    assert s["totals"]["retries"] == 1 and s["totals"]["failed_requests"] == 1
    assert s["unpriced_models"] == ["mystery"]
    assert json.loads(acc.write_report(tmp_path / "r" / "report.json").read_text()) == s
    with pytest.raises(ValueError, match="prices for 'big' disagree"):
        acc.add_prices([("big", 1.0, 1.0)])
    with pytest.raises(ValueError, match=r"prices\[0\]"):
        Accounting(prices=[("m", 1.0)])


def test_role_config_and_factory(monkeypatch, tmp_path):
    with pytest.raises(KeyError, match="unknown field 'temprature'"):
        role_config(temprature=0.5)
    cfg = role_config(api_key_env="PERSONAX_ABSENT_KEY", models="a=1,b=3", cache_dir=str(tmp_path),
                      prices=(("a", 1.0, 2.0),), temperature=0.2, max_tokens=128)
    assert cfg.models == (("a", 1.0), ("b", 3.0))
    monkeypatch.delenv("PERSONAX_ABSENT_KEY", raising=False)
    with pytest.raises(RuntimeError, match="PERSONAX_ABSENT_KEY"):
        make_chat_client(cfg)
    monkeypatch.setenv("PERSONAX_ABSENT_KEY", "sk-x")
    acc = Accounting()
    client = make_chat_client(cfg, accounting=acc)
    assert client.pool.probabilities == {"a": 0.25, "b": 0.75} and acc.prices == {"a": (1.0, 2.0)}
    assert client.cache is not None and client.cache.directory == tmp_path
    request = client.request([Message("user", "x")], module="m", pool_key=7, temperature=0.9)
    assert (request.temperature, request.max_tokens, request.top_p) == (0.9, 128, None)
    assert "sk-x" not in repr(client) and "sk-x" not in repr(cfg)


def test_parse_completion_bodies():
    from personax.llm.hosted import parse_completion
    from personax.llm.retry import BadResponse

    def body(content, usage=None):
        return json.dumps({"choices": [{"message": {"role": "assistant", "content": content},
                                        "finish_reason": "length"}], **({"usage": usage} if usage else {})})
    assert parse_completion(body("hi", {"prompt_tokens": 3, "completion_tokens": 1})) == ("hi", 3, 1)
    assert parse_completion(body([{"type": "text", "text": "a"}, {"type": "text", "text": "b"}])) == ("ab", 0, 0)
    for bad, kind, message in [(body(None), "empty", "finish_reason='length'"), (body("  \n"), "empty", "empty content"),
                               ('{"choices": []}', "bad_body", "no choices"), ("<html>", "bad_body", "not JSON")]:
        with pytest.raises(BadResponse, match=message) as info:
            parse_completion(bad)
        assert info.value.kind == kind
