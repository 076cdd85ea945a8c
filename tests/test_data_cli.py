"""`personax data inspect`: statistics, the last line, and error counting."""
import json
import re

import pytest

from personax.cli import main
from personax.data.examples import build_examples
from personax.data.importers import load
from personax.data.records import dumps, to_released

LAST_LINE = re.compile(r"^records=(\d+) personas=(\d+) errors=(\d+)$")
EXPECTED = {"rl_states.sample.jsonl": (40, 40), "sft_train.sample.jsonl": (40, 40),
            "train_samples.sample.json": (25, 5), "statistics.sample.json": (1, 5),
            "token_usage.sample.json": (246, 0)}


def inspect(capsys, path):
    rc = main(["data", "inspect", str(path)])
    out = capsys.readouterr()
    return rc, out.out.rstrip("\n").split("\n"), out.err


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_inspect_reports_no_errors_on_every_official_file(capsys, shared_data, name):
    rc, lines, _ = inspect(capsys, shared_data / "ppopt_official" / name)
    m = LAST_LINE.match(lines[-1])
    assert m, lines[-1]
    assert (int(m[1]), int(m[2]), int(m[3])) == (*EXPECTED[name], 0) and rc == 0


def test_inspect_statistics_content(capsys, shared_data):
    _, lines, _ = inspect(capsys, shared_data / "ppopt_official" / "train_samples.sample.json")
    text = "\n".join(lines)
    assert "turns: mean=3.08 min=2 max=5 n=25" in text
    assert "user messages: 78 noised=0.205" in text
    assert "features per persona: mean=17.80" in text
    _, lines, _ = inspect(capsys, shared_data / "ppopt_official" / "rl_states.sample.jsonl")
    assert "state text rebuilt byte-exact: 40/40" in lines


def test_inspect_counts_state_byte_mismatches(capsys, tmp_path, shared_data):
    lines = (shared_data / "ppopt_official" / "rl_states.sample.jsonl").read_text().splitlines()
    obj = json.loads(lines[2])
    obj["input"] = obj["input"].replace("## Current Query", "## Current  Query")
    lines[2] = json.dumps(obj, ensure_ascii=False)
    path = tmp_path / "rl.jsonl"
    path.write_text("\n".join(lines) + "\n")
    rc, out, _ = inspect(capsys, path)
    assert rc == 1 and out[-1] == "records=40 personas=40 errors=1"
    assert any(obj["state_id"] in line and line.startswith("error:") for line in out)


def test_inspect_skips_and_counts_malformed_lines(capsys, tmp_path, shared_data):
    recs = load(shared_data / "ppopt_official" / "train_samples.sample.json").records
    lines = [dumps(to_released(r)) for r in recs]
    lines[3] = lines[3].replace('"num_turns": ', '"num_turns": 1', 1)
    lines[7] = lines[7][:40]
    path = tmp_path / "atlas.jsonl"
    path.write_text("\n".join(lines) + "\n")
    rc, out, _ = inspect(capsys, path)
    assert rc == 1 and out[-1] == "records=23 personas=5 errors=2"
    assert f"error: {path}:4: field 'num_turns'" in "\n".join(out)
    assert f"error: {path}:8: field '<record>': invalid JSON" in "\n".join(out)


def test_inspect_released_and_example_files(capsys, tmp_path, shared_data):
    recs = load(shared_data / "ppopt_official" / "train_samples.sample.json").records
    atlas = tmp_path / "atlas.jsonl"
    atlas.write_text("".join(dumps(to_released(r)) + "\n" for r in recs))
    rc, out, _ = inspect(capsys, atlas)
    assert rc == 0 and out[1] == "kind: released" and out[-1] == "records=25 personas=5 errors=0"
    examples = tmp_path / "examples.jsonl"
    examples.write_text("".join(json.dumps(e.to_json()) + "\n" for e in build_examples(recs)[0]))
    rc, out, _ = inspect(capsys, examples)
    assert rc == 0 and out[1] == "kind: example" and out[-1] == "records=5 personas=5 errors=0"


def test_inspect_user_errors(capsys, tmp_path):
    assert main(["data", "inspect", str(tmp_path / "missing.jsonl")]) == 2
    assert "no such file" in capsys.readouterr().err
    weird = tmp_path / "weird.jsonl"
    weird.write_text('{"hello": 1}\n')
    assert main(["data", "inspect", str(weird)]) == 2
    assert "unrecognised record" in capsys.readouterr().err


def test_inspect_counts_example_state_mismatches(capsys, tmp_path, shared_data):
    recs = load(shared_data / "ppopt_official" / "train_samples.sample.json").records
    lines = [e.to_json() for e in build_examples(recs)[0]]
    lines[1]["original_query"] += " (edited)"
    path = tmp_path / "examples.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    rc, out, _ = inspect(capsys, path)
    assert rc == 1 and out[-1] == "records=5 personas=5 errors=1"


def test_inspect_counts_personas_whose_conversations_disagree(capsys, tmp_path, shared_data):
    recs = load(shared_data / "ppopt_official" / "train_samples.sample.json").records
    lines = [to_released(r).to_json() for r in recs]
    lines[6]["persona"]["tone_pref"] = "blunt"
    path = tmp_path / "atlas.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    rc, out, _ = inspect(capsys, path)
    assert rc == 1 and out[-1] == "records=25 personas=5 errors=1"
    assert f"error: persona {lines[6]['persona_id']}: its conversations disagree" in out[-2]
