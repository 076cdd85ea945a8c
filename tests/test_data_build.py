"""`personax data build`: persona-disjoint splits on disk, teacher labels (sim and hosted)."""
import json
import re

import pytest

from personax.cli import main
from personax.data.build import build_dataset, parse_sizes
from personax.data.importers import load
from personax.data.policy_io import parse_output


@pytest.fixture()
def inputs(shared_data):
    d = shared_data / "ppopt_official"
    return [str(d / "train_samples.sample.json"), str(d / "rl_states.sample.jsonl")]


def test_parse_sizes():
    assert parse_sizes("sft=250, rl=0.5,eval=3") == {"sft": 250, "rl": 0.5, "eval": 3}
    for bad in ("sft", "sft=x", "=3", ""):
        with pytest.raises(ValueError):
            parse_sizes(bad)


def test_build_writes_disjoint_loadable_splits(tmp_path, inputs):
    report = build_dataset(inputs, tmp_path, {"sft": 20, "rl": 20, "eval": 0.5}, seed=1,
                           arrayrecord_shards=2)
    assert report.counts == {"sft": 20, "rl": 20, "eval": 5} and report.personas == 45
    personas = []
    for name in ("sft", "rl", "eval"):
        loaded = load(tmp_path / f"{name}.jsonl")
        assert loaded.kind == "example" and len(loaded.records) == report.counts[name]
        personas.append({e.persona_id for e in loaded.records})
    assert sum(map(len, personas)) == len(set().union(*personas)) == 45
    assert len(list((tmp_path / "arrayrecord").glob("sft-*-of-00002.array_record"))) == 2
    again = build_dataset(inputs, tmp_path / "again", {"sft": 20, "rl": 20, "eval": 0.5}, seed=1)
    assert (tmp_path / "again" / "rl.jsonl").read_bytes() == (tmp_path / "rl.jsonl").read_bytes()
    assert again.counts == report.counts


def test_build_cli_with_the_sim_teacher(capsys, tmp_path, inputs):
    rc = main(["data", "build", *inputs, "--out", str(tmp_path), "--splits", "sft=0.5,rl=0.5",
               "--teacher", "sim"])
    out = capsys.readouterr().out.strip().split("\n")
    assert rc == 0 and out[-1] == "examples=45 personas=45 skipped_no_history=0 errors=0"
    assert out[:2] == ["sft: 22 examples, 22 labelled", "rl: 23 examples, 0 labelled"]
    sft = load(tmp_path / "sft.jsonl").records
    assert all(parse_output(e.output, "").status == "ok" for e in sft)
    assert all(e.output is None for e in load(tmp_path / "rl.jsonl").records)


def test_build_cli_several_states_per_persona(capsys, tmp_path, shared_data):
    conversations = str(shared_data / "ppopt_official" / "train_samples.sample.json")  # 5 personas x 5
    rc = main(["data", "build", conversations, "--out", str(tmp_path), "--splits", "sft=3,eval=2",
               "--states-per-persona", "2", "--max-history", "2"])
    out = capsys.readouterr().out.strip().split("\n")
    assert rc == 0 and out[:2] == ["sft: 6 examples, 0 labelled", "eval: 2 examples, 0 labelled"]
    sft = load(tmp_path / "sft.jsonl").records
    assert len({e.state_id for e in sft}) == 6 and len({e.persona_id for e in sft}) == 3
    assert all(len(e.history_texts) == 2 for e in sft)
    rc = main(["data", "build", conversations, "--out", str(tmp_path / "h3"), "--splits", "sft=3,eval=2",
               "--heldout-states-per-persona", "3"])
    assert rc == 0 and capsys.readouterr().out.startswith("sft: 3 examples, 0 labelled\neval: 6 examples")


def test_build_cli_with_a_hosted_teacher_on_a_local_server(capsys, tmp_path, inputs):
    from personax.llm.local_server import LocalChatServer

    def responder(request):
        query = request["messages"][-1]["content"].rsplit("Current query:\n", 1)[-1]
        return json.dumps({"reasoning": "They ask for exact numbers.",
                           "optimized_query": f"{query} Give exact numbers."})

    with LocalChatServer(responder=responder) as server:
        rc = main(["data", "build", inputs[0], "--out", str(tmp_path), "--splits", "sft=1.0",
                   "--teacher", "hosted", "--teacher-base-url", server.base_url,
                   "--teacher-key-env", "", "--teacher-model", "local-echo"])
    assert rc == 0 and len(server.received) == 5
    for e in load(tmp_path / "sft.jsonl").records:
        parsed = parse_output(e.output, "")
        assert parsed.reasoning == "They ask for exact numbers."
        assert parsed.prompt == f"{e.original_query} Give exact numbers."
    capsys.readouterr()


def test_build_cli_user_errors(capsys, tmp_path, inputs):
    assert main(["data", "build", inputs[0], "--out", str(tmp_path), "--splits", "a=x"]) == 2
    assert "expected name=count" in capsys.readouterr().err
    assert main(["data", "build", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path)]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["data", "build", inputs[0], "--out", str(tmp_path), "--teacher", "sim",
                 "--label-splits", "train"]) == 2
    assert re.search(r"--label-splits names \['train'\]", capsys.readouterr().err)


def test_data_stage_refuses_a_rerun_under_other_data_settings(tmp_path):
    from personax.train.data_stage import run_data
    from personax.train.experiment import experiment
    cfg = experiment()
    cfg.data.datagen.num_personas = 12
    cfg.data.splits = "sft=4,rl=4,eval=4"
    first = run_data(cfg, tmp_path)
    before = first["sft"].read_bytes()
    assert run_data(cfg, tmp_path) == first and first["sft"].read_bytes() == before  # done: skipped
    record = tmp_path / "data" / "ppopt" / "data_config.json"
    saved = json.loads(record.read_text())
    assert saved["data"].pop("teacher_best_of") == 1  # a record from before the setting existed ...
    record.write_text(json.dumps(saved))
    assert run_data(cfg, tmp_path) == first  # ... was built with its default
    cfg.data.teacher_best_of = 4
    with pytest.raises(ValueError, match=r"data\.teacher_best_of differ"):
        run_data(cfg, tmp_path)
    cfg.data.teacher_best_of = 1
    saved = json.loads(record.read_text())
    assert saved["data"].pop("teacher_reads_query") is False
    record.write_text(json.dumps(saved))  # a record from before: built with a teacher reading the history only
    assert run_data(cfg, tmp_path) == first
    cfg.data.teacher_reads_query = True
    with pytest.raises(ValueError, match=r"data\.teacher_reads_query differ"):
        run_data(cfg, tmp_path)
    cfg.data.teacher_reads_query = False
    cfg.data.heldout_states_per_persona = 3
    with pytest.raises(ValueError, match=r"data\.heldout_states_per_persona differ"):
        run_data(cfg, tmp_path)
    cfg.data.heldout_states_per_persona = 1
    cfg.data.states_per_persona = 2
    cfg.data.datagen.sim.express_scale = 3.0
    with pytest.raises(ValueError, match=r"data\.states_per_persona, datagen\.express_scale differ"):
        run_data(cfg, tmp_path)
    (tmp_path / "data" / "ppopt" / "data_config.json").unlink()  # splits from before the record: accepted
    assert run_data(cfg, tmp_path) == first


def test_best_of_needs_the_sim_teacher(tmp_path, capsys):
    from personax.train.data_stage import _teacher
    from personax.train.experiment import experiment
    cfg = experiment()
    cfg.data.teacher, cfg.data.teacher_best_of = "hosted", 2
    with pytest.raises(ValueError, match="teacher_best_of=2 needs data.teacher='sim'"):
        _teacher(cfg.data, 0)
    assert main(["data", "build", "x.jsonl", "--out", str(tmp_path), "--teacher-best-of", "2"]) == 2
    assert "--teacher-best-of 2 needs --teacher sim" in capsys.readouterr().err
    cfg.data.teacher_best_of, cfg.data.teacher_reads_query = 1, True
    with pytest.raises(ValueError, match="teacher_reads_query=True needs data.teacher='sim'"):
        _teacher(cfg.data, 0)
    assert main(["data", "build", "x.jsonl", "--out", str(tmp_path), "--teacher-reads-query"]) == 2
    assert "--teacher-reads-query needs --teacher sim" in capsys.readouterr().err
