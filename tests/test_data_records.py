"""PersonaAtlas records: the authors' rich samples, released <-> rich conversions, validation."""
import copy
import json

import pytest

from personax.data.fields import Fields, RecordError
from personax.data.records import (NoiseRecord, ReleasedRecord, RichMessage, RichRecord, Turn,
                                   dumps, to_released, to_rich)


@pytest.fixture(scope="module")
def authors_rich(shared_data):
    return json.loads((shared_data / "ppopt_official" / "train_samples.sample.json").read_text())


def rich(obj, where="t.json[0]"):
    return RichRecord.from_json(Fields(obj, where))


def released(obj, where="t.jsonl:1"):
    return ReleasedRecord.from_json(Fields(obj, where))


def test_authors_rich_samples_load_with_noise_attached(authors_rich):
    recs = [rich(x) for x in authors_rich]
    assert len(recs) == 25 and len({r.persona_id for r in recs}) == 5
    assert [r.num_turns for r in recs] == [x["num_turns"] for x in authors_rich]
    users = [m for r in recs for m in r.messages if m.role == "user"]
    assert len(users) == 78 and all(m.noise is not None for m in users)
    noised = [m for m in users if m.was_noised]
    assert len(noised) == 16
    # The noised message is the noise record's noisy text; its clean version the original.
    for m in noised:
        assert m.noise.layer_index > 0 and m.noise.applied_strategies
        assert (m.content, m.clean_version) == (m.noise.noisy_text, m.noise.original_text)
    assert all(m.model and m.provider for r in recs for m in r.messages if m.role == "assistant")
    first = recs[0]
    assert first.persona["age_band"] == "60p" and first.assistant_model == "x-ai/grok-4.1-fast"


def test_yaml_integer_age_bands_are_restored(authors_rich):
    bands = {rich(x).persona.get("age_band") for x in authors_rich}
    assert all(isinstance(b, str) for b in bands if b is not None)
    obj = copy.deepcopy(authors_rich[0])
    obj["persona_features"]["age_band"] = 1824
    assert rich(obj).persona["age_band"] == "18_24"
    obj["persona_features"]["age_band"] = 1999
    with pytest.raises(RecordError, match=r"persona_features\.age_band': expected a string"):
        rich(obj)


def test_rich_json_round_trip(authors_rich):
    for x in authors_rich:
        r = rich(x)
        assert rich(json.loads(dumps(r))) == r


def test_released_rich_conversions(authors_rich):
    for x in authors_rich:
        r = rich(x)
        rel = to_released(r)
        assert rel.id == r.sample_id and rel.num_turns == r.num_turns
        assert rel.role_utterances["user"] == x["prompt_trajectory"]
        assert released(json.loads(dumps(rel))) == rel
        back = to_rich(rel)
        assert to_released(back) == rel
        # The released form still tells whether the first message was noised.
        assert back.messages[0].was_noised == r.messages[0].was_noised
        assert back.messages[0].clean_version == r.initial_query


def test_released_line_has_the_spec_fields(authors_rich):
    line = json.loads(dumps(to_released(rich(authors_rich[0]))))
    assert list(line) == ["id", "persona_id", "persona", "original_query", "initial_query",
                          "full_conversation", "role_utterances", "num_turns", "distractor_type",
                          "conversation_ended"]
    assert line["num_turns"] == 2 and set(line["role_utterances"]) == {"user", "assistant"}


def test_constructed_record_serialises_per_message_noise():
    noise = NoiseRecord("hello there", "helo ther", "surface_noise", 1, ("typo_misspelling",),
                        {"intent": "greet", "slots": {}})
    r = RichRecord("s1", "p1", {"tone_pref": "warm"}, "seed", "hello there",
                   (RichMessage("user", "helo ther", 0, "hello there", True, noise),
                    RichMessage("assistant", "hi", 0, model="m", provider="sim")),
                   distractor_type="semantic")
    obj = json.loads(dumps(r))
    assert obj["full_conversation"][0]["metadata"]["noise_record"]["layer"] == "surface_noise"
    assert rich(obj) == r


@pytest.mark.parametrize("edit, where_field", [
    (lambda o: o.pop("persona_id"), "persona_id': missing"),
    (lambda o: o.update(num_turns="2"), "num_turns': expected an integer, got str"),
    (lambda o: o.update(num_turns=7), "num_turns': expected 2"),
    (lambda o: o.update(full_conversation=[]), "full_conversation': expected a non-empty list"),
    (lambda o: o["full_conversation"].reverse(), "full_conversation[0].role': expected 'user'"),
    (lambda o: o["full_conversation"][1].update(content=None), "full_conversation[1].content"),
    (lambda o: o["full_conversation"][0]["metadata"].update(was_noised="no"),
     "full_conversation[0].metadata.was_noised': expected a boolean"),
    (lambda o: o["prompt_trajectory"].append("x"), "prompt_trajectory"),
    (lambda o: o.update(initial_query="other"), "initial_query': expected the clean version"),
    (lambda o: o["full_conversation"][0].pop("metadata"), "full_conversation[0].metadata.turn"),
])
def test_malformed_rich_records_name_the_field(authors_rich, edit, where_field):
    obj = copy.deepcopy(authors_rich[0])
    edit(obj)
    with pytest.raises(RecordError) as e:
        rich(obj, "train.json[0]")
    assert str(e.value).startswith("train.json[0]: field '") and where_field in str(e.value)


def test_malformed_released_records_name_the_field():
    good = ReleasedRecord("c1", "p1", {"a": "b"}, "seed", "q", (Turn("user", "q"),
                                                                 Turn("assistant", "r")))
    obj = good.to_json()
    assert released(obj) == good
    for key, value, expect in [("role_utterances", {"user": ["q"], "assistant": []},
                                "role_utterances.assistant': expected the assistant messages"),
                               ("conversation_ended", "yes", "expected a boolean"),
                               ("persona", ["a"], "persona': expected an object, got list"),
                               ("num_turns", True, "num_turns': expected an integer, got bool")]:
        bad = {**obj, key: value}
        with pytest.raises(RecordError, match="^x.jsonl:9: field") as e:
            released(bad, "x.jsonl:9")
        assert expect in str(e.value)
