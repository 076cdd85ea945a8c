"""PrefEval loader: any directory in its layout -> PPOpt states with aligned-first options; clear errors."""
import json
import shutil

import pytest

from personax.data.fields import RecordError
from personax.data.state import PLACEHOLDER, parse_state
from personax.eval.prefeval.data import load_prefeval, pick_indices, topics_in


def test_shared_slice_becomes_states_in_the_policy_format(shared_data):
    root = shared_data / "prefeval"
    assert len(topics_in(root, ("explicit", "implicit"))) == 10
    items = load_prefeval(root, per_topic=2, seed=0)
    assert len(items) == 10 * 2 * 2
    mcq = json.loads((root / "mcq_options" / "travel_hotel.json").read_text())
    for item in items:
        e = item.example
        history, query = parse_state(e.input)  # the exact template the policy was trained on
        assert query == e.original_query and tuple(history) == e.history_texts and len(history) == 1
        assert e.state_id == f"{item.form}/{item.topic}/{item.index}"
        assert len(item.options) == 4 and PLACEHOLDER in history[0]
        if item.form == "explicit":
            assert history[0] == f"User: {item.preference}\n{PLACEHOLDER}"
        else:
            assert history[0].count("User: ") == 2  # the query for options, then the user's pick
    hotel = [i for i in items if i.topic == "travel_hotel"]
    assert {i.form for i in hotel} == {"explicit", "implicit"}
    assert len({i.index for i in hotel}) == 2  # both forms share their items
    for i in hotel:
        assert list(i.options) == mcq[i.index]["classification_task_options"]


def test_picks_are_seeded_and_grow_as_supersets():
    assert pick_indices("a", 50, 3, 0) == pick_indices("a", 50, 3, 0)
    assert set(pick_indices("a", 50, 3, 0)) < set(pick_indices("a", 50, 6, 0))
    assert pick_indices("a", 50, 3, 0) != pick_indices("a", 50, 3, 1)
    assert pick_indices("a", 5, 0, 0) == [0, 1, 2, 3, 4]


@pytest.fixture
def copy(shared_data, tmp_path):
    """A one-topic copy of the shared slice to break."""
    for d in ("explicit_preference", "implicit_choice_based", "mcq_options"):
        (tmp_path / d).mkdir()
        shutil.copy(shared_data / "prefeval" / d / "travel_hotel.json", tmp_path / d)
    return tmp_path


def _edit(path, fn):
    data = json.loads(path.read_text())
    fn(data)
    path.write_text(json.dumps(data))


def test_any_directory_in_the_layout_loads_its_topics(copy):
    items = load_prefeval(copy, forms=("explicit",), per_topic=0)
    assert len(items) == 54 and {i.topic for i in items} == {"travel_hotel"}
    with pytest.raises(ValueError, match=r"topics \['nope'\] are not in"):
        load_prefeval(copy, topics=("nope",))
    with pytest.raises(ValueError, match="forms must be"):
        load_prefeval(copy, forms=("chatty",))


@pytest.mark.parametrize("edit,where,field", [
    (lambda d: d[3].pop("preference"), "explicit_preference/travel_hotel.json[3]", "preference"),
    (lambda d: d[3].update(question=""), "explicit_preference/travel_hotel.json[3]", "question"),
    (lambda d: d[3].update(question="Something else?"), "explicit_preference/travel_hotel.json[3]", "question"),
])
def test_bad_explicit_records_name_file_index_and_field(copy, edit, where, field):
    _edit(copy / "explicit_preference" / "travel_hotel.json", edit)
    with pytest.raises(RecordError) as err:
        load_prefeval(copy, forms=("explicit",))
    assert err.value.where.endswith(where) and err.value.field == field


def test_bad_implicit_and_mcq_records(copy):
    _edit(copy / "implicit_choice_based" / "travel_hotel.json", lambda d: d[5]["conversation"].pop("user_selection"))
    with pytest.raises(RecordError, match=r"implicit_choice_based/travel_hotel.json\[5\]: field 'conversation.user_"):
        load_prefeval(copy, forms=("implicit",))
    _edit(copy / "mcq_options" / "travel_hotel.json", lambda d: d[7]["classification_task_options"].pop())
    with pytest.raises(RecordError, match=r"mcq_options/travel_hotel.json\[7\]: field 'classification_task_options'"
                                          r": expected 4 non-empty options"):
        load_prefeval(copy, forms=("explicit",))


def test_layout_errors(copy):
    _edit(copy / "mcq_options" / "travel_hotel.json", lambda d: d.pop())
    with pytest.raises(ValueError, match="has 54 items but .*mcq_options/travel_hotel.json has 53"):
        load_prefeval(copy, forms=("explicit",))
    (copy / "mcq_options" / "travel_hotel.json").write_text('{"not": "a list"}')
    with pytest.raises(ValueError, match="expected a JSON list"):
        load_prefeval(copy, forms=("explicit",))
    shutil.rmtree(copy / "mcq_options")
    with pytest.raises(ValueError, match="not in PrefEval's layout"):
        load_prefeval(copy)
