"""The hosted path against a real local OpenAI-compatible server, with injected faults."""
import asyncio
import json
import pathlib

from data_gen.config import role
from data_gen.llm_roles import LLMAssistant
from personax.configfile import load_config
from data_gen.runner import generate
from personax.llm.local_server import FaultPlan, LocalChatServer
from personax.llm.sim.responder import datagen_responder

SIM_SMALL = str(pathlib.Path(__file__).resolve().parents[1] / "configs/datagen/sim_small.py")


def hosted_config(base_url, personas=4, per_persona=2):
    cfg = load_config(SIM_SMALL)
    cfg.progress = False
    cfg.num_personas, cfg.conversations_per_persona = personas, per_persona
    fast = dict(base_url=base_url, api_key_env="", timeout_s=0.5, max_retries=8, backoff_base_s=0.01,
                backoff_max_s=0.05, retry_after_cap_s=0.05, concurrency=8, models=(("local-a", 1.0),),
                prices=(("local-a", 1.0, 2.0), ("local-b", 1.0, 2.0)))
    cfg.roles = dict(style=role("hosted", "local", **fast), user=role("hosted", "local", **fast),
                     distractor=role("hosted", "local", **fast), others=role("hosted", "local", **fast),
                     assistant=role("hosted", "local", **{**fast, "models": (("local-a", 0.5), ("local-b", 0.5))}))
    return cfg


def test_hosted_run_with_30_percent_faults_completes(tmp_path):
    """Also checks what the assistant is shown."""
    with LocalChatServer(datagen_responder, faults=FaultPlan.mixed(0.3, seed=1), hang_s=1.0) as srv:
        result = asyncio.run(generate(hosted_config(srv.base_url), tmp_path))
        faults = sum(srv.stats.faults.values())
        srv_received = list(srv.received)
        to_assistant = [r for r in srv_received if r["messages"][0]["content"] == LLMAssistant.SYSTEM]
    assert result.done == result.planned == 8 and not result.failed
    totals = result.tokens["totals"]
    assert faults > 0 and totals["retries"] >= faults - totals["failed_requests"] > 0
    report = json.loads(result.paths["tokens"].read_text())
    inv = next(iter(report["invocations"].values()))
    assert sum(inv["totals"]["faults"].values()) == faults  # every injected fault is accounted
    assert set(report["tokens_by_module"]) == {"style_transfer", "user_simulator", "assistant", "distractor"} | (
        {"others_resolution"} & set(report["tokens_by_module"]))
    assert totals["cost_usd"] > 0
    rich = [json.loads(l) for l in result.paths["rich"].read_text().splitlines()]
    assert {r["metadata"]["assistant_model"]["model"] for r in rich} <= {"local-a", "local-b"}
    # The assistant is never shown the persona: no "dimension: value" line reaches it.
    traits = {f"{d}: {v}" for r in rich for d, v in r["persona_features"].items()}
    seen = " ".join(m["content"] for r in to_assistant for m in r["messages"])
    assert to_assistant and not [t for t in traits if t in seen]
    others = " ".join(m["content"] for r in srv_received if r not in to_assistant for m in r["messages"])
    assert [t for t in traits if t in others]  # while the user simulator does see them


def test_rerun_is_answered_by_the_cache(tmp_path):
    with LocalChatServer(datagen_responder) as srv:
        first = asyncio.run(generate(hosted_config(srv.base_url, personas=3), tmp_path))
        paid, port = srv.stats.requests, srv.port
    released = first.paths["released"].read_bytes()
    first.paths["rich"].unlink()  # as if the run had been killed before any conversation was stored
    with LocalChatServer(datagen_responder, port=port) as srv:  # the cache key includes the URL
        again = asyncio.run(generate(hosted_config(srv.base_url, personas=3), tmp_path))
        assert srv.stats.requests == 0
    assert paid > 0 and again.paths["released"].read_bytes() == released
    assert again.tokens["invocations"][max(again.tokens["invocations"])]["totals"]["cache_hits"] > 0


def test_style_transfer_validates_domain_against_the_bank():
    import pytest

    from data_gen.llm_roles import LLMStyleTransfer
    from data_gen.seeds import load_builtin
    from personax.llm.config import make_chat_client, role_config

    reply = json.dumps({"adapted_query": "hey, a pasta salad?", "inferred_domain": "astrology",
                        "inferred_scenario": "casual"})
    with LocalChatServer(lambda req: reply) as srv:
        client = make_chat_client(role_config(base_url=srv.base_url, api_key_env="", models=(("m", 1.0),)))
        role = LLMStyleTransfer(client, "style_transfer")

        async def go():
            try:
                return await role.adapt({"tone_pref": "warm"}, load_builtin()[0], "full", 20,
                                        ["food", "general"], ["casual"], "conv#0/style")
            finally:
                await client.aclose()
        with pytest.raises(ValueError, match="inferred_domain='astrology' is not in the bank"):
            asyncio.run(go())

