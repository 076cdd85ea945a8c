"""PPOpt example builder (target/history rules), persona-disjoint splits, privileged teacher."""
import json

import pytest

from personax.data.examples import build_examples, split_examples, split_personas
from personax.data.policy_io import parse_output
from personax.data.records import ReleasedRecord, Turn
from personax.data.state import PLACEHOLDER, parse_state
from personax.data.teacher import (LLMTeacher, TeacherLabel, check_label, label_examples,
                                   teacher_messages)
from personax.llm.base import ChatResponse


def conv(cid, persona, turns, first="hello", initial=None):
    msgs = []
    for t in range(turns):
        msgs += [Turn("user", f"{first} {cid} {t}" if t == 0 else f"more {cid} {t}"),
                 Turn("assistant", f"answer {cid} {t}")]
    return ReleasedRecord(cid, persona, {"tone_pref": "warm"}, f"seed {cid}",
                          initial or f"{first} {cid} 0", tuple(msgs), "semantic", True)


def test_target_is_fewest_turns_and_history_the_others_in_order():
    recs = [conv("a", "p", 3), conv("b", "p", 2, first="noisy", initial="clean b"),
            conv("c", "p", 4), conv("d", "p", 2), conv("e", "p", 5), conv("f", "p", 3)]
    (ex,), stats = build_examples(recs)
    # First of the two-turn conversations is the target; its clean initial_query is the query.
    assert ex.state_id == "b" and ex.original_query == "clean b"
    history, query = parse_state(ex.input)
    assert query == "clean b" and history == list(ex.history_texts)
    # At most 4 sessions: the others in input order (d, the other 2-turn one, included).
    assert [h.split(" ")[2] for h in history] == ["a", "c", "d", "e"]
    assert history[0].count(PLACEHOLDER) == 3 and "answer" not in ex.input
    assert "tone_pref" not in ex.input and stats.examples == 1


def test_persona_needs_at_least_one_history_session():
    recs = [conv("a", "p1", 2), conv("b", "p2", 2), conv("c", "p2", 3)]
    examples, stats = build_examples(recs)
    assert [e.persona_id for e in examples] == ["p2"]
    assert (stats.personas, stats.examples, stats.skipped_no_history) == (2, 1, 1)
    examples, _ = build_examples(recs, max_history=1)
    assert len(examples[0].history_texts) == 1


def test_several_states_per_persona_each_conversation_a_target_once():
    recs = [conv("a", "p", 3), conv("b", "p", 2), conv("c", "p", 4), conv("d", "q", 2), conv("e", "q", 3)]
    examples, stats = build_examples(recs, max_history=2, states_per_persona=3)
    assert [(e.persona_id, e.state_id) for e in examples] == [("p", "b"), ("p", "a"), ("p", "c"),
                                                                ("q", "d"), ("q", "e")]
    for e in examples:  # the history is the persona's other conversations, in input order
        sessions = [h.split(" ")[2] for h in e.history_texts]
        assert e.state_id not in sessions and sessions == sorted(sessions)
    assert [e.state_id for e in build_examples(recs, states_per_persona=1)[0]] == ["b", "d"]
    assert stats.examples == 5
    with pytest.raises(ValueError, match="states_per_persona"):
        build_examples(recs, states_per_persona=0)


def test_held_out_splits_keep_one_state_per_persona(tmp_path):
    from personax.data.build import build_dataset
    from personax.data.importers import load
    recs = [conv(f"{p}{i}", p, 2 + i) for p in ("p1", "p2", "p3", "p4") for i in range(3)]
    path = tmp_path / "convs.jsonl"
    path.write_text("".join(json.dumps(r.to_json()) + "\n" for r in recs))
    report = build_dataset([path], tmp_path / "out", {"sft": 2, "eval": 2}, seed=0, states_per_persona=3)
    assert report.counts == {"sft": 6, "eval": 2}
    held_out = load(tmp_path / "out" / "eval.jsonl").records
    assert sorted(e.state_id[:2] for e in held_out) == sorted({e.persona_id for e in held_out})
    assert all(e.state_id.endswith("0") for e in held_out)  # the canonical (fewest-turn) target


def test_held_out_splits_can_keep_several_states_per_persona(tmp_path):
    from personax.data.build import build_dataset
    from personax.data.importers import load
    recs = [conv(f"{p}{i}", p, 2 + i) for p in ("p1", "p2", "p3", "p4") for i in range(3)]
    path = tmp_path / "convs.jsonl"
    path.write_text("".join(json.dumps(r.to_json()) + "\n" for r in recs))
    one = build_dataset([path], tmp_path / "one", {"sft": 2, "eval": 2}, seed=0, states_per_persona=1)
    two = build_dataset([path], tmp_path / "two", {"sft": 2, "eval": 2}, seed=0, heldout_states_per_persona=2)
    assert one.counts == {"sft": 2, "eval": 2} and two.counts == {"sft": 2, "eval": 4}
    assert (tmp_path / "two" / "sft.jsonl").read_bytes() == (tmp_path / "one" / "sft.jsonl").read_bytes()
    held_out = [e.state_id for e in load(tmp_path / "two" / "eval.jsonl").records]
    canonical = [e.state_id for e in load(tmp_path / "one" / "eval.jsonl").records]
    assert [s for s in held_out if s.endswith("0")] == canonical  # the one-state split, in order
    assert sorted(s[-1] for s in held_out) == ["0", "0", "1", "1"]  # the two fewest-turn targets each
    with pytest.raises(ValueError, match="states per persona must be >= 1, got 0"):
        build_dataset([path], tmp_path / "bad", {"sft": 2, "eval": 2}, seed=0, states_per_persona=2,
                      heldout_states_per_persona=0)


def test_builder_uses_noisy_user_messages_as_sent(shared_data):
    from personax.data.importers import load
    recs = load(shared_data / "ppopt_official" / "train_samples.sample.json").records
    examples, _ = build_examples(recs)
    noised = [m for r in recs for m in r.messages if m.was_noised]
    texts = "\n".join(t for e in examples for t in e.history_texts)
    in_history = [m for m in noised if m.content in texts]
    assert in_history and all(m.clean_version not in texts for m in in_history
                              if m.clean_version not in m.content)


def test_splits_are_disjoint_seeded_and_sized():
    ids = [f"p{i:03d}" for i in range(100)]
    a = split_personas(ids, {"sft": 40, "rl": 0.3, "eval": 20}, seed=3)
    assert [len(v) for v in a.values()] == [40, 30, 20]
    flat = [p for v in a.values() for p in v]
    assert len(set(flat)) == len(flat)
    assert split_personas(reversed(ids), {"sft": 40, "rl": 0.3, "eval": 20}, seed=3) == a
    assert split_personas(ids, {"sft": 40, "rl": 0.3, "eval": 20}, seed=4) != a
    assert [len(v) for v in split_personas(ids, {"x": 90, "y": 50}, 0).values()] == [90, 10]
    # Cumulative rounding: fractions summing to one leave nobody out.
    assert [len(v) for v in split_personas(ids[:45], {"a": 0.5, "b": 0.5}, 0).values()] == [22, 23]
    assert [len(v) for v in split_personas(ids[:10], {"a": 0.35, "b": 0.3, "c": 0.35}, 0)
            .values()] == [4, 2, 4]
    with pytest.raises(ValueError, match="fraction 1.5"):
        split_personas(ids, {"x": 1.5}, 0)


def test_split_examples_keeps_each_persona_in_one_split():
    recs = [conv(f"c{i}{j}", f"p{i}", 2 + j) for i in range(30) for j in range(3)]
    examples, _ = build_examples(recs)
    splits = split_examples(examples, {"sft": 0.5, "rl": 0.3, "eval": 0.2}, seed=0)
    personas = [{e.persona_id for e in v} for v in splits.values()]
    assert [len(p) for p in personas] == [15, 9, 6]
    assert not (personas[0] & personas[1] or personas[0] & personas[2] or personas[1] & personas[2])


class FakeClient:
    """A ChatClient that replays canned replies and keeps the requests."""

    def __init__(self, replies):
        self.replies, self.requests = list(replies), []

    async def chat(self, request):
        self.requests.append(request)
        return ChatResponse(text=self.replies.pop(0), model=request.model)


GOOD = json.dumps({"reasoning": "Across sessions they ask for tables and short answers.",
                   "optimized_query": "Give a short table of Dubai hotels with Burj views."})


def test_llm_teacher_sees_traits_and_returns_the_label():
    client = FakeClient([GOOD])
    label = LLMTeacher(client, "m").label({"format_pref_primary": "table"}, ["User: hi"], "Dubai?")
    assert label == TeacherLabel("Across sessions they ask for tables and short answers.",
                                 "Give a short table of Dubai hotels with Burj views.")
    (req,) = client.requests
    assert req.json_mode and req.module == "teacher"
    assert "format_pref_primary: table" in req.messages[1].content
    assert "User: hi" in req.messages[1].content and "Dubai?" in req.messages[1].content


def test_llm_teacher_retries_a_leaking_label_once():
    leak = json.dumps({"reasoning": "Per the persona they like tables.", "optimized_query": "q"})
    client = FakeClient(["```json\n" + leak + "\n```", GOOD])
    assert LLMTeacher(client, "m").label({}, ["h"], "q").optimized_query.startswith("Give")
    assert "the reasoning says 'persona'" in client.requests[1].messages[-1].content
    with pytest.raises(ValueError, match="says 'persona'"):
        LLMTeacher(FakeClient([leak, leak]), "m").label({}, ["h"], "q")


def test_llm_teacher_repairs_bad_json_once_then_fails():
    client = FakeClient(["sure! here it is", GOOD])
    assert LLMTeacher(client, "m").label({}, ["h"], "q").reasoning.startswith("Across")
    with pytest.raises(ValueError, match="no valid JSON after one repair"):
        LLMTeacher(FakeClient(["nope", "still nope"]), "m").label({}, ["h"], "q")


@pytest.mark.parametrize("obj, problem", [
    ({"reasoning": "r"}, "optimized_query"),
    ({"reasoning": " ", "optimized_query": "q"}, "'reasoning' must be a non-empty"),
    ({"reasoning": "From the given profile: terse.", "optimized_query": "q"}, "given profile"),
    ({"reasoning": "Ground truth says terse.", "optimized_query": "q"}, "Ground truth"),
])
def test_check_label_rejects(obj, problem):
    with pytest.raises(ValueError, match=problem):
        check_label(obj)


def test_label_examples_with_sync_and_async_teachers():
    examples, _ = build_examples([conv("a", "p", 2), conv("b", "p", 3)])

    class Echo:
        def label(self, persona, history_texts, query):
            return TeacherLabel(f"{len(history_texts)} sessions", query.upper())

    (ex,) = label_examples(Echo(), examples)
    assert parse_output(ex.output, "").prompt == "HELLO A 0"
    assert ex.output == "<REASONING>1 sessions</REASONING><PROMPT>HELLO A 0</PROMPT>"
    client = FakeClient([GOOD])
    (ex,) = label_examples(LLMTeacher(client, "m"), examples, concurrency=2)
    assert ex.output.startswith("<REASONING>Across sessions") and len(client.requests) == 1


def test_teacher_messages_never_put_traits_in_the_state():
    msgs = teacher_messages({"age_band": "60p"}, ["User: x"], "q")
    assert msgs[0].role == "system" and "never" in msgs[0].content
