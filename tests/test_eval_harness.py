"""The evaluation harness end to end on sim data: scores, both-order pairwise, resume, report, CLI,
and a hosted judge that cannot be parsed."""
import argparse
import collections
import json
import pathlib
import shutil

import pytest

from personax.eval import run as eval_run
from personax.eval.config import get_eval_config
from personax.eval.harness import both_orders
from personax.eval.report import write_report
from personax.eval.run import run_eval
from personax.llm.local_server import LocalChatServer
from personax.llm.sim.deployed import SimDeployed
from personax.llm.sim.judges import SimJudges
from personax.train.data_stage import run_data
from personax.train.experiment import experiment

from helpers import Counting

BASELINES = ("original", "full_history", "retrieval_topk", "oracle")


def sim_config(**eval_overrides):
    cfg = experiment()
    cfg.progress = False
    cfg.data.datagen.num_personas = 16
    cfg.data.splits = "sft=4,rl=4,eval=8"
    cfg.eval = get_eval_config()
    cfg.eval.update({"methods": BASELINES, "bootstrap_samples": 200, "plots": False, **eval_overrides})
    return cfg


@pytest.fixture(scope="module")
def sim_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("sim")
    run_data(sim_config(), root)
    return root / "data"


@pytest.fixture
def workdir(sim_data, tmp_path):
    shutil.copytree(sim_data, tmp_path / "data")
    return tmp_path


@pytest.fixture
def calls(monkeypatch):
    counts = collections.Counter()
    monkeypatch.setattr(eval_run, "build_deployed", lambda c: Counting(SimDeployed(seed=c.deployed.sim.seed), counts))
    monkeypatch.setattr(eval_run, "build_judges", lambda c: Counting(SimJudges(), counts))
    return counts


def read_items(workdir):
    return [json.loads(line) for line in (workdir / "report" / "items.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("method_first, original_first, outcome", [
    ("A", "B", "win"), ("B", "A", "lose"), ("A", "A", "tie"), ("B", "B", "tie"), ("tie", "B", "tie"),
    ("tie", "tie", "tie"), (None, "B", None), ("A", None, None)])
def test_both_orders_must_agree(method_first, original_first, outcome):
    assert both_orders(method_first, original_first) == outcome


def test_sim_oracle_beats_original_and_task_is_judged_against_the_original_query(workdir):
    summary = run_eval(sim_config(), workdir)
    m = summary["methods"]
    assert list(m) == list(BASELINES) and summary["n_examples"] == 8 and summary["sim"] == ["deployed", "judge"]
    assert summary["n_personas"] == 8 and "intervals over states." in (workdir / "report" / "report.md").read_text()
    assert m["oracle"]["delta_personalization"]["lo"] > 3.0 and m["oracle"]["win"]["mean"] >= 0.75
    assert m["original"]["delta_personalization"]["mean"] == 0.0 and m["original"]["win"]["n"] == 0
    for name in BASELINES:  # every method keeps the original request's content: no task penalty
        assert m[name]["delta_task"]["lo"] >= 0.0 and m[name]["task"]["mean"] == 10.0
        assert m[name]["answer_failed_rate"] == 0.0 and m[name]["fallback_rate"] == 0.0
    items = read_items(workdir)
    assert len(items) == 8 * len(BASELINES)
    oracle = next(i for i in items if i["method"] == "oracle")
    assert oracle["prompt"].startswith("About me:") and oracle["original_query"] in oracle["prompt"]
    assert set(oracle["samples"][0]["pairwise"]) == {"method_first", "original_first"} and oracle["answer"]
    by_method = {name: [i for i in items if i["method"] == name] for name in BASELINES}
    two_states_a_persona = write_report({**summary, "n_personas": 4}, by_method, workdir, plots=False).read_text()
    assert "8 held-out states of 4 personas" in two_states_a_persona
    assert "intervals over personas, each drawn with all its states." in two_states_a_persona


def test_several_answers_a_prompt_are_each_judged_and_averaged(workdir, calls, tmp_path_factory):
    one = {(i["state_id"], i["method"]): i for i in (run_eval(sim_config(), workdir), read_items(workdir))[1]}
    calls.clear()
    fresh = tmp_path_factory.mktemp("four")
    shutil.copytree(workdir / "data", fresh / "data")
    summary = run_eval(sim_config(answers_per_prompt=4), fresh)
    assert summary["answers_per_prompt"] == 4 and calls["personalization"] == 4 * 8 * len(BASELINES)
    for item in read_items(fresh):
        samples = item["samples"]
        assert len(samples) == 4 and item["answer"] == samples[0]["answer"]
        # sample 0 is the one answer a K = 1 evaluation gets; the others are further draws of the deployed LLM
        assert samples[0]["answer"] == one[(item["state_id"], item["method"])]["answer"]
        assert item["personalization"] == pytest.approx(sum(s["personalization"] for s in samples) / 4)
        if item["method"] != "original":
            outcomes = [s["outcome"] for s in samples]
            assert item["outcomes"] == {o: outcomes.count(o) / 4 for o in ("win", "tie", "lose")}
    distinct = [len({s["answer"] for s in i["samples"]}) for i in read_items(fresh) if i["method"] == "oracle"]
    assert max(distinct) > 1  # the draws differ: the sim deployed model follows each trait by chance
    with pytest.raises(ValueError, match="answers_per_prompt must be >= 1, got 0"):
        run_eval(sim_config(answers_per_prompt=0), fresh)


def test_a_judge_biased_to_position_a_gives_ties_not_wins(workdir, monkeypatch):
    class AlwaysA(SimJudges):
        async def pairwise(self, persona, query, a, b):
            return "A"
    monkeypatch.setattr(eval_run, "build_judges", lambda c: AlwaysA())
    m = run_eval(sim_config(methods=("original", "oracle")), workdir)["methods"]["oracle"]
    assert m["tie"]["mean"] == 1.0 and m["win"]["mean"] == 0.0


def same(a, b) -> bool:
    return json.dumps(a["methods"], sort_keys=True) == json.dumps(b["methods"], sort_keys=True)


def test_deterministic_and_resumable(workdir, calls, tmp_path_factory):
    first = run_eval(sim_config(), workdir)
    asked = sum(calls.values())
    assert asked > 0
    again = run_eval(sim_config(), workdir)
    assert sum(calls.values()) == asked  # nothing redone
    assert same(again, first)

    # Drop two scored items: only those are redone, and the summary is as before.
    items = read_items(workdir)
    dropped = {items[0]["state_id"], items[1]["state_id"]}
    kept = [i for i in items if not (i["method"] == "oracle" and i["state_id"] in dropped)]
    (workdir / "report" / "items.jsonl").write_text("".join(json.dumps(i) + "\n" for i in kept))
    calls.clear()
    resumed = run_eval(sim_config(), workdir)
    assert calls["answer"] == 2 and calls["personalization"] == 2 and calls["pairwise"] == 4
    assert same(resumed, first)
    assert len(read_items(workdir)) == len(items)

    # A changed method setting redoes that method only.
    calls.clear()
    run_eval(sim_config(retrieval_k=1), workdir)
    assert calls["answer"] == 8 and calls["task_completion"] == 8

    fresh = tmp_path_factory.mktemp("fresh")
    shutil.copytree(workdir / "data", fresh / "data")
    assert same(run_eval(sim_config(), fresh), first)


def test_items_follow_the_split_content_not_its_path(workdir, calls, tmp_path_factory):
    """A moved or copied workdir keeps its scored items; a split regenerated with other histories (same
    states, same queries) at the same path is scored again."""
    cfg = sim_config(methods=("original", "full_history"))
    first = run_eval(cfg, workdir)
    moved = tmp_path_factory.mktemp("moved") / "w"
    shutil.copytree(workdir, moved)
    calls.clear()
    assert same(run_eval(cfg, moved), first)
    assert sum(calls.values()) == 0

    split = moved / "data" / "ppopt" / "eval.jsonl"
    rows = [json.loads(line) for line in split.read_text().splitlines()]
    for row in rows:
        row["history_texts"] = [text + " Keep it brief." for text in row["history_texts"]]
    split.write_text("".join(json.dumps(r) + "\n" for r in rows))
    run_eval(cfg, moved)
    assert calls["answer"] == 2 * len(rows) * cfg.eval.answers_per_prompt


def test_failed_answers_are_recorded_and_redone_on_resume(workdir, monkeypatch):
    class Flaky(SimDeployed):
        broken = True

        async def answer(self, prompt, sample_index=0):
            if Flaky.broken and prompt.startswith("About me:"):
                raise RuntimeError("endpoint down")
            return await super().answer(prompt, sample_index)
    monkeypatch.setattr(eval_run, "build_deployed", lambda c: Flaky())
    cfg = sim_config(methods=("original", "oracle"))
    m = run_eval(cfg, workdir)["methods"]["oracle"]
    assert m["answer_failed_rate"] == 1.0 and m["personalization"]["n"] == 0
    assert all(i["error"].startswith("deployed: endpoint down") for i in read_items(workdir) if i["method"] == "oracle")
    Flaky.broken = False
    m = run_eval(cfg, workdir)["methods"]["oracle"]
    assert m["answer_failed_rate"] == 0.0 and m["personalization"]["n"] == 8


def test_report_has_every_method_plots_and_the_sim_note(workdir):
    (workdir / "sft").mkdir()
    sft_rows = [{"step": s, "loss": 6 - s} for s in range(1, 5)]
    (workdir / "sft" / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in sft_rows))
    (workdir / "grpo").mkdir()
    (workdir / "grpo" / "metrics.jsonl").write_text("".join(json.dumps(
        {"step": s, "loss": 0.1, "kl_mean": 0.01 * s, "reward/profile/mean": 0.2, "reward/total/mean": 0.3})
        + "\n" for s in range(1, 4)))
    summary = run_eval(sim_config(methods=(*BASELINES, "ppopt_grpo"), plots=True), workdir)
    report = workdir / "report"
    text = (report / "report.md").read_text()
    for name in BASELINES:
        assert f"| {name} |" in text
    assert "describe the sim world only" in text
    assert "ppopt_grpo" in summary["skipped"] and "no sft checkpoint" in summary["skipped"]["ppopt_grpo"]
    assert "`ppopt_grpo`: no sft checkpoint" in text
    for png in ("scores.png", "deltas.png", "outcomes.png", "training.png"):
        assert (report / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"]({png})" in text
    assert json.loads((report / "summary.json").read_text())["methods"].keys() == summary["methods"].keys()


def test_cli_command_prints_the_table(workdir, capsys):
    from personax.commands import eval as eval_cmd
    config = pathlib.Path(__file__).parents[1] / "configs" / "smoke_cpu.py"
    args = argparse.Namespace(config=str(config), workdir=workdir, config_overrides=[
        ("eval.methods", "('original','oracle')"), ("eval.bootstrap_samples", "100"),
        ("data.datagen.num_personas", "16"), ("data.splits", "sft=4,rl=4,eval=8")])  # the data it was built with
    assert eval_cmd.run(args) == 0
    out = capsys.readouterr().out
    assert "oracle" in out and "full_history" not in out and "sim world only" in out
    assert (workdir / "report" / "report.md").exists()


def test_unparseable_hosted_judge_is_counted_not_fatal(workdir):
    with LocalChatServer(responder=lambda request: "I liked it, maybe a seven-ish.") as server:
        cfg = sim_config(methods=("original", "oracle"), max_examples=2)
        cfg.rewards.judge.backend = "hosted"
        cfg.rewards.judge.llm.update(dict(base_url=server.base_url, api_key_env="", models=(("local-judge", 1.0),),
                                          max_retries=0, backoff_base_s=0.001))
        summary = run_eval(cfg, workdir)
    m = summary["methods"]["oracle"]
    assert m["personalization"]["n"] == 0 and m["personalization_judge_failed_rate"] == 1.0
    assert m["task_judge_failed_rate"] == 1.0 and m["pairwise_judge_failed_rate"] == 1.0
    stats = summary["judge_stats"]
    assert stats["personalization/unparseable"] == 4 and stats["pairwise/unparseable"] == 4
    assert summary["sim"] == ["deployed"]
    assert "deployed LLM is the procedural sim world's" in (workdir / "report" / "report.md").read_text()


def test_judges_see_the_original_query_never_the_methods_prompt(workdir, monkeypatch):
    seen = []

    class Recording(SimJudges):
        async def task_completion(self, query, answer):
            seen.append(query)
            return await super().task_completion(query, answer)

        async def pairwise(self, persona, query, a, b):
            seen.append(query)
            return await super().pairwise(persona, query, a, b)
    monkeypatch.setattr(eval_run, "build_judges", lambda c: Recording())
    run_eval(sim_config(methods=("original", "full_history", "oracle")), workdir)
    originals = {i["original_query"] for i in read_items(workdir)}
    assert len(seen) == 8 * 3 + 8 * 2 * 2 and set(seen) == originals
