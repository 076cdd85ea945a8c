"""Importers: every sample file loads as it is; malformed records fail clearly or are counted."""
import json

import pytest

from personax.data.fields import RecordError
from personax.data.importers import load, to_examples

SAMPLES = {"rl_states.sample.jsonl": ("rl", 40), "sft_train.sample.jsonl": ("sft", 40),
           "train_samples.sample.json": ("rich", 25), "statistics.sample.json": ("statistics", 1),
           "token_usage.sample.json": ("token_usage", 1)}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_sample_file_loads(shared_data, name):
    loaded = load(shared_data / "ppopt_official" / name)
    assert (loaded.kind, len(loaded.records), loaded.errors) == (*SAMPLES[name], [])


def test_rl_states_fields_and_persona_ids(shared_data):
    states = load(shared_data / "ppopt_official" / "rl_states.sample.jsonl").records
    assert states[0].persona_id == "persona_20260201_171224_0361d5603bc1"
    assert len({s.persona_id for s in states}) == 40


def test_token_report_totals(shared_data):
    (report,) = load(shared_data / "ppopt_official" / "token_usage.sample.json").records
    assert len(report.calls) == 246 and report.summary["total_tokens"] == 441571
    by_module = report.tokens_by("module")
    assert by_module["interaction_generation"] / 441571 == pytest.approx(0.786, abs=1e-3)


def test_examples_from_every_conversation_or_state_file(shared_data):
    d = shared_data / "ppopt_official"
    assert len(to_examples(load(d / "rl_states.sample.jsonl"))) == 40
    sft = to_examples(load(d / "sft_train.sample.jsonl"))
    assert len(sft) == 40 and all(e.output.startswith("<REASONING>") for e in sft)
    conv = to_examples(load(d / "train_samples.sample.json"))
    assert len(conv) == 5 and all(len(e.history_texts) == 4 for e in conv)
    with pytest.raises(ValueError, match="holds no conversations or states"):
        to_examples(load(d / "statistics.sample.json"))


@pytest.fixture()
def rl_lines(shared_data):
    return (shared_data / "ppopt_official" / "rl_states.sample.jsonl").read_bytes().split(b"\n")[:3]


def write(tmp_path, lines, name="bad.jsonl"):
    path = tmp_path / name
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def edited(line, **changes):
    obj = json.loads(line)
    for key, value in changes.items():
        if value is None:
            obj.pop(key)
        else:
            obj[key] = value
    return json.dumps(obj).encode()


@pytest.mark.parametrize("make_bad, field, problem", [
    (lambda l: b"\xff\xfe" + l, "<record>", "invalid UTF-8 at byte 0"),
    (lambda l: l[:-5], "<record>", "invalid JSON"),
    (lambda l: edited(l, original_query=None), "original_query", "missing; expected a string"),
    (lambda l: edited(l, history_texts="text"), "history_texts", "expected a list, got str"),
    (lambda l: edited(l, history_texts=[]), "history_texts", "expected a non-empty list"),
    (lambda l: edited(l, history_texts=["a", "  "]), "history_texts[1]", "non-empty session"),
    (lambda l: edited(l, history_texts=["a", 3]), "history_texts[1]", "expected a string, got int"),
    (lambda l: edited(l, persona_features={"tone_pref": ["x"]}), "persona_features.tone_pref",
     "expected a string, got list"),
])
def test_malformed_record_names_file_line_and_field(tmp_path, rl_lines, make_bad, field, problem):
    path = write(tmp_path, [rl_lines[0], make_bad(rl_lines[1]), rl_lines[2]])
    with pytest.raises(RecordError) as e:
        load(path)
    assert (e.value.where, e.value.field) == (f"{path}:2", field)
    assert problem in e.value.problem
    loaded = load(path, skip_bad=True)
    assert len(loaded.records) == 2 and [x.where for x in loaded.errors] == [f"{path}:2"]


def test_malformed_sft_items(tmp_path, shared_data):
    line = (shared_data / "ppopt_official" / "sft_train.sample.jsonl").read_bytes().split(b"\n")[0]
    obj = json.loads(line)
    bad_input = json.dumps({**obj, "input": "Rewrite this: hello"}).encode()
    bad_output = json.dumps({**obj, "output": ""}).encode()
    loaded = load(write(tmp_path, [line, bad_input, bad_output]), skip_bad=True)
    assert [(e.field, e.where.rsplit(":", 1)[1]) for e in loaded.errors] == [("input", "2"),
                                                                           ("output", "3")]
    assert "PPOpt state text" in loaded.errors[0].problem


def test_unrecognised_and_empty_files(tmp_path):
    with pytest.raises(RecordError, match=r"unrecognised record \(keys \['foo'\]\)"):
        load(write(tmp_path, [b'{"foo": 1}']))
    with pytest.raises(RecordError, match="no readable records"):
        load(write(tmp_path, [b""], "empty.jsonl"))
    with pytest.raises(ValueError, match="unknown kind"):
        load(write(tmp_path, [b"{}"]), kind="nope")


def test_inconsistent_token_report(tmp_path, shared_data):
    obj = json.loads((shared_data / "ppopt_official" / "token_usage.sample.json").read_text())
    obj["records"][5]["total_tokens"] += 1
    path = tmp_path / "tok.json"
    path.write_text(json.dumps(obj))
    with pytest.raises(RecordError, match=r"records\[5\].total_tokens': expected input_tokens"):
        load(path)


def test_personax_accounting_report(tmp_path):
    report = {"totals": {"calls": 3, "prompt_tokens": 70, "completion_tokens": 30, "tokens": 100,
                         "cost_usd": 0.5},
              "tokens_by_module": {"assistant": 60, "distractor": 40}}
    path = tmp_path / "token_usage.json"
    path.write_text(json.dumps(report))
    (acc,) = load(path).records
    assert (acc.calls, acc.tokens, acc.tokens_by_module["assistant"]) == (3, 100, 60)
    report["tokens_by_module"]["assistant"] = 61
    path.write_text(json.dumps(report))
    with pytest.raises(RecordError, match="tokens_by_module': expected to sum to totals.tokens"):
        load(path)
