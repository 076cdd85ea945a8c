"""run_prefeval end to end on tiny models: every method's prompts, MCQ scores, the four-check judge over a
real local server, the report, and a resumed run that redoes nothing."""
import json
import pathlib

import pytest

from personax.configfile import load_config
from personax.eval.prefeval.config import get_prefeval_config
from personax.eval.prefeval.data import pick_indices
from personax.eval.prefeval.run import run_prefeval
from personax.llm.config import role_config
from personax.llm.local_server import LocalChatServer
from personax.tokenizers import train_sentencepiece

ROOT = pathlib.Path(__file__).parents[1]
METHODS = ("original", "full_history", "oracle", "ppopt_zero_shot", "ppopt_sft")


def lenient_judge(request) -> str:
    """Every check passes, except that answers are never helpful to this judge."""
    system = request["messages"][0]["content"]
    verdict = "no" if "actually help" in system or "go against" in system or "credit the user" in system else "yes"
    return json.dumps({"reasoning": "ok", "verdict": verdict})


@pytest.fixture
def cfg(shared_data, tmp_path):
    c = load_config(str(ROOT / "configs" / "smoke_cpu.py"))  # a tiny scratch policy
    c.eval.policy.update(max_new_tokens=8, max_prompt_len=256, batch_size=2)
    c.prefeval = get_prefeval_config()
    c.prefeval.update(data_dir=str(shared_data / "prefeval"), topics=("travel_hotel",), per_topic=1,
                      methods=METHODS, policy_workdir=str(tmp_path / "policy"), bootstrap_samples=50)
    c.prefeval.deployed.update(model="tiny-deployed", batch_size=2, answer_max_tokens=4)
    # the scratch policy's tokenizer, as its own data stage would have left it
    texts = json.loads((shared_data / "prefeval" / "implicit_choice_based" / "travel_hotel.json").read_text())
    (tmp_path / "policy").mkdir()
    train_sentencepiece([json.dumps(t) for t in texts], tmp_path / "policy" / "tokenizer.model", vocab_size=512)
    return c


def test_every_method_scored_judged_reported_and_resumed(cfg, prefeval_tiny, tmp_path):
    out = tmp_path / "run"
    with LocalChatServer(responder=lenient_judge) as server:
        cfg.prefeval.judge.update(enabled=True, json_mode=False)
        cfg.prefeval.judge.llm = role_config(base_url=server.base_url, api_key_env="", models="judge-model",
                                             temperature=0.0, max_retries=0)
        summary = run_prefeval(cfg, out, deployed_model=prefeval_tiny)
        requests = server.stats.requests
        lines = (out / "report" / "prefeval_items.jsonl").read_text().splitlines()
        again = run_prefeval(cfg, out, deployed_model=prefeval_tiny)
        assert server.stats.requests == requests  # nothing judged twice
    assert (out / "report" / "prefeval_items.jsonl").read_text().splitlines() == lines  # nothing redone
    assert again["methods"] == summary["methods"]

    assert set(summary["skipped"]) == {"ppopt_sft"} and "no sft checkpoint" in summary["skipped"]["ppopt_sft"]
    assert summary["n_items"] == 2 and list(summary["methods"]) == list(METHODS[:4])
    items = [json.loads(line) for line in lines]
    assert len(items) == 8 and {i["form"] for i in items} == {"explicit", "implicit"}
    by = {(i["method"], i["form"]): i for i in items}
    preference = by[("oracle", "explicit")]["preference"]
    assert all(preference in by[(m, "explicit")]["prompt"] for m in ("oracle", "full_history"))
    assert by[("original", "explicit")]["prompt"] == by[("original", "explicit")]["original_query"]
    for i in items:
        assert sorted(i["order"]) == [0, 1, 2, 3] and i["order"] == by[("original", i["form"])]["order"]
        for scored in i["mcq"].values():
            assert scored["correct"] == (i["order"][scored["choice"]] == 0)
        assert i["judge"]["follows"] is False and i["judge"]["checks"]["helpful"] is False
        assert isinstance(i["judge"]["answer"], str)  # the tiny deployed model's greedy answer
    m = summary["methods"]["full_history"]
    assert m["judge"]["follows"]["mean"] == 0.0 and m["judge"]["checks"]["acknowledges"]["pass_rate"] == 1.0
    assert summary["methods"]["original"]["mcq"]["letter"]["shift_accuracy"]["mean"] is None
    assert m["mcq"]["option_logprob"]["shift_accuracy"]["n"] == 2
    assert summary["judge_stats"]["helpful/calls"] == 8 and summary["judge_stats"]["violates/calls"] == 8
    report = (out / "report" / "prefeval.md").read_text()
    assert "| ppopt_zero_shot | 2 |" in report and "`ppopt_sft`" in report and "Judge calls" in report
    assert "| original | 10 | ok 2 |" in report  # prompt words and parse statuses
    assert (out / "report" / "prefeval.png").stat().st_size > 0


def stored(out):
    return {(i["state_id"], i["method"]): i for i in map(json.loads, (out / "report" / "prefeval_items.jsonl").open())}


def test_more_items_later_scores_only_the_new_ones(cfg, prefeval_tiny, tmp_path):
    cfg.prefeval.methods = ("oracle",)
    cfg.prefeval.forms = ("explicit",)
    out = tmp_path / "run"
    run_prefeval(cfg, out, deployed_model=prefeval_tiny)
    first = stored(out)
    cfg.prefeval.per_topic = 2
    summary = run_prefeval(cfg, out, deployed_model=prefeval_tiny)
    second = stored(out)
    assert len(first) == 2 and len(second) == 4 and all(second[k] == v for k, v in first.items())
    assert summary["methods"]["oracle"]["n"] == 2 and not summary["skipped"]
    cfg.prefeval.seed = 1  # other picks and shuffles: no stored item matches any more
    run_prefeval(cfg, out, deployed_model=prefeval_tiny)
    third = stored(out)
    picked = [(f"explicit/travel_hotel/{n}", "oracle") for n in pick_indices("travel_hotel", 54, 2, seed=1)]
    assert all(third[k]["fingerprint"] != second.get(k, {}).get("fingerprint") for k in picked)


def test_the_offline_config_and_its_variant():
    cfg = load_config(str(ROOT / "configs" / "eval" / "prefeval_smollm2.py"))
    assert cfg.model.name == "smollm2-135m-instruct" and not cfg.prefeval.judge.enabled
    assert pathlib.Path(cfg.prefeval.data_dir).name == "prefeval"
    assert "ppopt_grpo" in cfg.prefeval.methods
    assert load_config(str(ROOT / "configs" / "eval" / "prefeval_smollm2.py") + ":original").prefeval.methods == (
        "original", "full_history", "oracle")
    with pytest.raises(ValueError, match="unknown variant"):
        load_config(str(ROOT / "configs" / "eval" / "prefeval_smollm2.py") + ":nope")


@pytest.mark.slow
def test_smollm2_original_and_oracle_through_the_command(tmp_path):
    """The real SmolLM2-135M-Instruct as the deployed model (1-3 minutes on 2 shared cores)."""
    import argparse

    from personax.eval.prefeval import command

    args = argparse.Namespace(config=str(ROOT / "configs" / "eval" / "prefeval_smollm2.py") + ":original",
                              workdir=tmp_path, config_overrides=[
                                  ("prefeval.topics", "travel_hotel"), ("prefeval.per_topic", "1"),
                                  ("prefeval.methods", "original,oracle"), ("prefeval.plots", "false")])
    assert command.run(args) == 0
    summary = json.loads((tmp_path / "report" / "prefeval_summary.json").read_text())
    assert summary["deployed"] == "smollm2-135m-instruct" and summary["n_items"] == 2
    for m in summary["methods"].values():
        assert m["n"] == 2 and 0.0 <= m["mcq"]["letter"]["accuracy"]["mean"] <= 1.0
