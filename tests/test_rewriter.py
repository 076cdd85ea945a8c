"""The generic history-free rewriter: the untrained base model on the sampler, and a hosted LLM served by
the real local OpenAI-compatible server (good, empty and failed replies)."""
import asyncio
import functools
import json
import shutil

import pytest

from personax.data.examples import PPOptExample
from personax.eval import policy_methods
from personax.eval.methods import MethodContext, get_method
from personax.eval.rewriter import rewrite_request
from personax.eval.run import build_rewriter, run_eval
from personax.llm.local_server import FaultPlan, LocalChatServer
from personax.train.sft_run import read_examples

from helpers import smoke_eval_config

smoke_config = functools.partial(smoke_eval_config, policy_batch_size=4)


def rewrite(examples, ctx):
    return asyncio.run(get_method("generic_rewriter").prompts(examples, ctx))


def test_base_backend_samples_the_untrained_base_on_the_query_alone(smoke_data, monkeypatch):
    seen = []

    def recording(model, tok, examples, ctx):
        seen.append([e.input for e in examples])
        return real(model, tok, examples, ctx)
    real = policy_methods.sample_rewrites
    monkeypatch.setattr(policy_methods, "sample_rewrites", recording)
    examples = read_examples(smoke_data / "data" / "ppopt" / "eval.jsonl")
    ctx = MethodContext(smoke_config(), smoke_data, deployed=None, summarizer=None)
    outputs = rewrite(examples, ctx)
    # The sampler read the rewrite request (the query, no history, no persona), one row per distinct query.
    assert seen == [[rewrite_request(e.original_query) for e in examples]]
    for e, out in zip(examples, outputs):
        assert out.status in ("ok", "no_prompt_tag", "empty") and out.prompt.strip()
        assert out.prompt == e.original_query if out.status == "empty" else out.prompt == out.extra["raw"].strip()
    # Greedy: the same rewrites from a fresh context; the same context reuses them without sampling.
    assert rewrite(examples, MethodContext(smoke_config(), smoke_data, None, None)) == outputs
    assert rewrite(examples[:2], ctx) == outputs[:2] and len(seen) == 2


EXAMPLE = PPOptExample(state_id="s0", persona_id="p0", persona={"format_pref_primary": "table"},
                       history_texts=("User: in a table please, I am a nurse",), original_query="Plan a trip to Rome.",
                       input="state text")


def hosted_config(server, **llm):
    cfg = smoke_config()
    cfg.eval.rewriter.backend = "hosted"
    cfg.eval.rewriter.llm.update(dict(base_url=server.base_url, api_key_env="", models=(("local-rewriter", 1.0),),
                                      max_retries=0, backoff_base_s=0.001, timeout_s=5.0, **llm))
    return cfg


@pytest.mark.parametrize("reply, status, prompt", [
    ("Sure! <PROMPT>Plan a 3-day trip to Rome: daily schedule, budget, transport.</PROMPT>", "ok",
     "Plan a 3-day trip to Rome: daily schedule, budget, transport."),
    ("Plan a detailed trip to Rome with a day-by-day schedule.", "no_prompt_tag",
     "Plan a detailed trip to Rome with a day-by-day schedule."),
    ("<PROMPT>   </PROMPT>", "empty", "Plan a trip to Rome."),
    ("", "empty", "Plan a trip to Rome.")])
def test_hosted_backend_parses_the_reply_and_falls_back_when_empty(reply, status, prompt):
    with LocalChatServer(responder=lambda request: reply) as server:
        cfg = hosted_config(server)
        out = rewrite([EXAMPLE], MethodContext(cfg, None, None, None, rewriter=build_rewriter(cfg)))[0]
        request = server.received[0]["messages"]
    assert (out.status, out.prompt) == (status, prompt)
    assert len(request) == 1 and request[0]["content"] == rewrite_request(EXAMPLE.original_query)
    assert "nurse" not in request[0]["content"] and "table" not in request[0]["content"]


def test_hosted_backend_failure_falls_back_and_is_counted_in_the_report(smoke_data, tmp_path):
    shutil.copytree(smoke_data / "data", tmp_path / "data")
    faults = FaultPlan(script=["server_error", "non_json"])  # the first two requests fail, the rest succeed
    with LocalChatServer(responder=lambda request: "<PROMPT>A clearer request.</PROMPT>", faults=faults) as server:
        cfg = hosted_config(server, concurrency=1)
        cfg.eval.update(methods=("original", "generic_rewriter"), max_examples=4, concurrency=1)
        summary = run_eval(cfg, tmp_path)
    m = summary["methods"]["generic_rewriter"]
    assert m["n"] == 4 and m["fallback_rate"] == 0.5 and m["no_prompt_tag_rate"] == 0.0
    items = [i for i in map(json.loads, (tmp_path / "report" / "items.jsonl").open())
             if i["method"] == "generic_rewriter"]
    failed = [i for i in items if i["status"] == "empty"]
    assert len(failed) == 2 and all(i["extra"]["error"].startswith("rewriter:") for i in failed)
    assert all(i["prompt"] == i["original_query"] for i in failed)
    assert {i["prompt"] for i in items if i["status"] == "ok"} == {"A clearer request."}
    assert all(i["version"].startswith("hosted:") for i in items)


def test_unknown_backend_is_a_config_error():
    cfg = smoke_config()
    cfg.eval.rewriter.backend = "bpo"
    with pytest.raises(ValueError, match="eval.rewriter.backend must be 'base' or 'hosted'"):
        build_rewriter(cfg)


def test_in_a_robustness_sweep_the_rewriter_samples_once_and_the_policy_once_per_point(smoke_data, tmp_path,
                                                                                          monkeypatch):
    shutil.copytree(smoke_data / "data", tmp_path / "data")
    inputs = []

    def recording(model, tok, examples, ctx):
        inputs.append(tuple(e.input for e in examples))
        return real(model, tok, examples, ctx)
    real = policy_methods.sample_rewrites
    monkeypatch.setattr(policy_methods, "sample_rewrites", recording)
    cfg = smoke_config(methods=("original", "generic_rewriter", "ppopt_zero_shot"), max_examples=4)
    cfg.eval.robustness.update(enabled=True, sweeps=("sparsity",), sessions=(1, 2, 4),
                               methods=("original", "generic_rewriter", "ppopt_zero_shot"))
    examples = read_examples(smoke_data / "data" / "ppopt" / "eval.jsonl")[:4]
    assert max(len(e.history_texts) for e in examples) == 4  # k = 4 leaves every state as it was
    rb = run_eval(cfg, tmp_path)["robustness"]
    # main: rewriter + policy; sweep: the policy at k = 1 and k = 2, nothing new at k = 4
    assert len(inputs) == 2 + 2 and inputs[2] != inputs[3] != inputs[1]
    assert all("## Historical Conversations" in i for i in inputs[2])
    assert [p["methods"]["generic_rewriter"]["n"] for p in rb["curves"]["sparsity"]] == [4, 4, 4]
    point = tmp_path / "report" / "robustness" / "sparsity" / "k=4"
    items = [json.loads(line) for line in (point / "items.jsonl").open()]
    main = [json.loads(line) for line in (tmp_path / "report" / "items.jsonl").open()]
    assert {(i["method"], i["prompt"]) for i in items} == {(i["method"], i["prompt"]) for i in main}
