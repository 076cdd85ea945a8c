"""End-to-end PersonaGym runs on the sim world: statistics, determinism, resume, CLI."""
import asyncio
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

from personax.configfile import load_config
from data_gen.runner import generate
from data_gen.store import JsonlStore
from personax.data.records import ReleasedRecord
from personax.data.fields import Fields

ROOT = pathlib.Path(__file__).resolve().parents[1]
SIM_SMALL = str(ROOT / "configs/datagen/sim_small.py")


def run(tmp, **overrides):
    cfg = load_config(SIM_SMALL)
    cfg.progress = False
    for k, v in overrides.items():
        node = cfg
        *parents, leaf = k.split("__")
        for p in parents:
            node = node[p]
        node[leaf] = v
    return asyncio.run(generate(cfg, tmp))


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return run(tmp_path_factory.mktemp("sim_small"))


def test_sim_small_statistics_in_reference_ranges(small):
    s = small.statistics
    assert small.done == small.planned == 250 and s["unique_personas"] == 50
    assert s["conversations_per_persona"] == {"mean": 5.0, "min": 5, "max": 5}
    assert s["turns"]["min"] >= 2 and s["turns"]["max"] <= 5 and 2.2 <= s["turns"]["mean"] <= 3.6
    assert 0.20 <= s["noise_share"] <= 0.30
    for layer, want in (("surface_noise", 0.5), ("incomplete_info", 0.3), ("semantic_ambiguity", 0.2)):
        assert abs(s["layer_shares"][layer] - want) <= 0.1, s["layer_shares"]
    assert 15 <= s["features_per_persona"]["min"] and s["features_per_persona"]["max"] <= 20
    assert s["features_per_persona_with_attached"]["max"] <= 22
    assert 100 <= s["prompt_types"]["full"] <= 150
    assert small.tokens["totals"]["tokens"] > 0 and small.tokens["totals"]["cost_usd"] == 0
    assert 0.3 < small.tokens["simulation_token_share"] < 1


def test_outputs_load_and_seeds_are_unique(small):
    lines = small.paths["released"].read_text(encoding="utf-8").splitlines()
    recs = [ReleasedRecord.from_json(Fields(json.loads(l), f"released:{i}")) for i, l in enumerate(lines, 1)]
    assert len(recs) == 250 and len({r.id for r in recs}) == 250
    rich = [json.loads(l) for l in small.paths["rich"].read_text().splitlines()]
    seeds = [r["metadata"]["query"]["seed_id"] for r in rich]
    assert len(set(seeds)) == len(seeds)
    for r in rich:
        first = r["full_conversation"][0]
        assert first["metadata"]["clean_version"] == r["initial_query"]
        assert first["metadata"]["was_noised"] == (first["content"] != r["initial_query"])
        assert {"domain", "scenario"} <= set(r["persona_features"])
    from personax.data.importers import load
    for name, kind in (("released", "released"), ("rich", "rich"), ("statistics", "statistics")):
        loaded = load(small.paths[name])
        assert loaded.kind == kind and not loaded.errors
    json.loads(small.paths["tokens"].read_text())


def test_deterministic_and_rerun_is_a_no_op(small, tmp_path):
    again = run(tmp_path, num_personas=50)
    assert again.paths["released"].read_bytes() == small.paths["released"].read_bytes()
    before = again.paths["rich"].read_bytes()
    third = run(tmp_path)
    assert third.paths["rich"].read_bytes() == before and third.done == 250


def test_sharding_splits_personas(tmp_path):
    parts = [run(tmp_path, num_personas=6, shard_index=i, num_shards=2) for i in range(2)]
    ids = [json.loads(l)["persona_id"] for p in parts for l in p.paths["released"].read_text().splitlines()]
    assert len(ids) == 30 and len(set(ids)) == 6
    assert set(ids[:15]).isdisjoint(ids[15:])


def test_store_drops_a_torn_last_line(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_text('{"id": "a"}\n{"id": "b"}\n{"id": "c", "x"')
    store = JsonlStore(path, "id")
    assert len(store) == 2 and path.read_text() == '{"id": "a"}\n{"id": "b"}\n'
    assert store.append({"id": "c"}) and not store.append({"id": "c"})
    assert len(JsonlStore(path, "id")) == 3


def test_cli_user_errors(tmp_path):
    from personax.cli import main
    assert main(["datagen", "--config", SIM_SMALL, "--workdir", str(tmp_path), "--config.nope=1"]) == 2
    assert main(["datagen", "--config", "missing.py", "--workdir", str(tmp_path)]) == 2
    assert main(["datagen", "--config", SIM_SMALL, "--workdir", str(tmp_path), "--config.num_personas=100"]) == 2


def _cli(workdir, *extra):
    cmd = [sys.executable, "-m", "personax.cli", "datagen", "--config", SIM_SMALL, "--workdir", str(workdir),
           "--config.num_personas=12", "--config.sim.latency_s=0.02", "--config.concurrency", "4", *extra]
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_kill_and_resume(tmp_path):
    work = tmp_path / "run"
    proc = _cli(work)
    rich = work / "personaatlas_rich.jsonl"
    deadline = time.time() + 60
    while time.time() < deadline and (not rich.exists() or rich.read_text().count("\n") < 8):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    first = rich.read_bytes()
    n_first = first.count(b"\n")
    assert 8 <= n_first < 60, "the run must be killed mid-way"
    done = _cli(work)
    out, err = done.communicate(timeout=120)
    assert done.returncode == 0, err
    assert "conversations: 60/60" in out
    after = rich.read_bytes()
    assert after.startswith(first[: first.rfind(b"\n") + 1])  # nothing finished was lost or rewritten
    ids = [json.loads(l)["sample_id"] for l in after.decode().splitlines()]
    assert len(ids) == len(set(ids)) == 60
    clean = run(tmp_path / "clean", num_personas=12)
    assert (work / "personaatlas.jsonl").read_bytes() == clean.paths["released"].read_bytes()


def test_failed_conversations_are_retried_then_supplemented(tmp_path, monkeypatch):
    from data_gen import backends
    from personax.llm.sim.assistant import SimAssistant

    class Flaky(SimAssistant):
        """Fails every attempt of conversations whose seed is in the first two templates."""

        async def reply(self, model, conversation, key):
            if "_builtin-000-" in key or "_builtin-001-" in key:
                raise ConnectionError(f"injected failure for {key}")
            return await super().reply(model, conversation, key)

    monkeypatch.setitem(backends.SIM, "assistant", lambda seed, scale: Flaky(seed))
    result = run(tmp_path, num_personas=20)
    s = result.statistics
    failed = [json.loads(l) for l in result.paths["failures"].read_text().splitlines()]
    broken = {f["conv_id"] for f in failed}
    assert broken and s["errors_this_invocation"] == len(failed) == 3 * len(broken)
    assert {f["attempt"] for f in failed} == {0, 1, 2} and "injected failure" in failed[0]["error"]
    assert result.done == result.planned == 100 and not s["failed_conversations"]
    # A supplement may draw a broken seed too and need a later round, so <= rather than ==.
    assert 1 <= s["supplement_conversations"] <= len(broken)
    assert s["conversations_per_persona"]["min"] == 5


def test_sim_teacher_labels_ppopt_examples_from_a_sim_run(small):
    from personax.data.examples import build_examples
    from personax.data.teacher import label_examples
    from personax.llm.sim.teacher import SimTeacher, evidence
    from personax.llm.sim.world import expressed_cues, load_world

    world = load_world()
    records = export_records(small)
    examples, stats = build_examples(records)
    assert stats.examples == 50
    labelled = label_examples(SimTeacher(), examples)
    assert all(e.output.startswith("<REASONING>") and "<PROMPT>" in e.output for e in labelled)
    found = [len(evidence(world, e.persona, list(e.history_texts))) for e in examples]
    voiceable = [len(expressed_cues(world, e.persona)) for e in examples]
    one = [len(evidence(world, e.persona, list(e.history_texts[:1]))) for e in examples]
    # Sparse but learnable: one session reveals little, four sessions together reveal more.
    assert sum(f > 0 for f in found) >= 40
    assert 0.35 * sum(voiceable) < sum(found) < 0.8 * sum(voiceable)
    assert sum(one) < 0.5 * sum(found)
    rewritten = sum(e.output.split("<PROMPT>")[1] != e.original_query + "</PROMPT>" for e in labelled)
    assert rewritten >= 35


def export_records(result):
    from data_gen.export import rich_records
    return rich_records((json.loads(l) for l in result.paths["rich"].read_text().splitlines()), "rich")


def test_a_second_run_on_the_same_workdir_is_refused(tmp_path):
    from data_gen.store import WorkdirBusy, exclusive
    with exclusive(tmp_path / ".lock"):
        with pytest.raises(WorkdirBusy, match="another run"):
            run(tmp_path, num_personas=2)
    assert run(tmp_path, num_personas=2).done == 10  # released again once the holder is gone


def test_rerun_after_failures_tries_new_attempts(tmp_path, monkeypatch):
    from data_gen import backends
    from personax.llm.sim.assistant import SimAssistant

    class Broken(SimAssistant):
        async def reply(self, model, conversation, key):
            if "_builtin-" in key and "#" in key and int(key.rsplit("/", 1)[0].rsplit("#", 1)[1]) < 3:
                raise ConnectionError("attempts 0-2 always fail")
            return await super().reply(model, conversation, key)

    monkeypatch.setitem(backends.SIM, "assistant", lambda seed, scale: Broken(seed))
    first = run(tmp_path, num_personas=2, supplement_rounds=0)
    assert first.done == 0 and len(first.failed) == 10
    second = run(tmp_path, num_personas=2, supplement_rounds=0)
    assert second.done == 10  # attempts 3.. are new, so the second invocation succeeds
    attempts = [json.loads(l)["attempt"] for l in second.paths["failures"].read_text().splitlines()]
    assert sorted(set(attempts)) == [0, 1, 2]
