"""trait_asks: which evidenced traits a method's prompt asks for, reliably, weakly, wrongly or not."""
import json

import pytest

from personax.data.examples import PPOptExample
from personax.eval.trait_asks import count_asks, main


def _example(state_id="s1"):
    # length_pref is voiced in the history ("Keep it brief", a user cue); citation_pref is not voiced.
    return PPOptExample(state_id=state_id, persona_id="p1",
                        persona={"length_pref": "brief", "citation_pref": "required"},
                        history_texts=("User: How do tides work? Keep it brief.",),
                        original_query="Explain how a refrigerator works.", input="state")


def _items():
    q = "Explain how a refrigerator works."
    return [{"method": "reliable", "state_id": "s1", "prompt": f"{q} Keep the answer brief."},
            {"method": "cue", "state_id": "s1", "prompt": f"{q} Keep it brief."},
            {"method": "wrong", "state_id": "s1", "prompt": f"{q} Keep the answer detailed."},
            {"method": "none", "state_id": "s1", "prompt": q}]


def test_counts_each_kind_of_ask_for_the_voiced_trait_only():
    counts = count_asks(_items(), [_example()])
    assert {m: dict(c) for m, c in counts.items()} == {
        "reliable": {"reliable": 1}, "cue": {"weak": 1}, "wrong": {"wrong": 1}, "none": {"missing": 1}}


def test_by_profile_splits_policy_items_by_whether_the_profile_states_the_trait():
    q = "Explain how a refrigerator works."
    items = _items() + [
        {"method": "ppopt", "state_id": "s1", "prompt": q, "extra": {"profile": "they wrote it, so length: brief"}},
        {"method": "ppopt", "state_id": "s1", "prompt": f"{q} Keep the answer brief.",
         "extra": {"profile": "length: detailed"}}]
    counts = count_asks(items, [_example()], by_profile=True)
    assert {m: dict(c) for m, c in counts.items()} == {
        "ppopt, profile does not": {"reliable": 1}, "ppopt, profile names it": {"missing": 1}}


def test_unknown_state_is_named():
    with pytest.raises(KeyError, match="state 'nope'"):
        count_asks([{"method": "m", "state_id": "nope", "prompt": "x"}], [_example()])


def test_cli_prints_a_table_from_a_workdir(tmp_path, capsys):
    (tmp_path / "report").mkdir()
    (tmp_path / "data" / "ppopt").mkdir(parents=True)
    (tmp_path / "report" / "items.jsonl").write_text("\n".join(json.dumps(i) for i in _items()))
    (tmp_path / "data" / "ppopt" / "eval.jsonl").write_text(json.dumps(_example().to_json()) + "\n")
    main([str(tmp_path)])
    out = capsys.readouterr().out
    assert "| reliable | 1 | 0 | 0 | 0 |" in out and "| none | 0 | 0 | 0 | 1 |" in out
    assert "profile states the trait" in out
    with pytest.raises(SystemExit, match="no .*items.jsonl"):
        main([str(tmp_path / "missing")])
