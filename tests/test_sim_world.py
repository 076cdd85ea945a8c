"""The sim world's trait table, sim roles and the sim privileged teacher."""
import asyncio

import pytest

from data_gen.bank import load_bank
from data_gen.seeds import load_builtin
from personax.data.teacher import TeacherLabel
from personax.llm.base import Message
from personax.llm.sim.assistant import SimAssistant
from personax.llm.sim.teacher import SimTeacher, evidence, message_length_band
from personax.llm.sim.user import SimStyleTransfer, SimUserSimulator
from personax.llm.sim.world import load_world

PERSONA = {"format_pref_primary": "table", "length_pref": "brief", "tone_pref": "warm",
           "citation_pref": "required", "age_band": "60p", "query_length_pref": "short",
           "risk_posture": "balanced"}


def test_table_covers_every_constraint_of_the_bank():
    world, bank = load_world(), load_bank()
    for dim in bank.constraint_names:
        trait = world.traits[dim]
        if trait.kind == "message_length":
            continue
        for value in bank.dimensions[dim].values:
            if value == "others":
                continue
            assert trait.cues_for(value), (dim, value)
            phrasings = trait.instructions_for(value)
            assert len(phrasings) >= 2 and phrasings[0].reliability > phrasings[-1].reliability
        markers = [trait.marker(v) for v in bank.dimensions[dim].values]
        assert len(set(markers)) == len(markers), dim  # a judge can tell the values apart


def test_style_transfer_voices_some_traits_and_keeps_the_task():
    seed = load_builtin()[0]
    world = load_world()
    style = SimStyleTransfer(seed=0)
    cues = {c for d in ("format_pref_primary", "length_pref", "tone_pref", "citation_pref")
            for c in world.traits[d].cues_for(PERSONA[d])}
    outs = [asyncio.run(style.adapt(PERSONA, seed, "full", 25, ["writing"], ["work_task"], f"k{i}"))
            for i in range(40)]
    assert all(seed.text in o.text and o.domain == "writing" and o.scenario == "work_task" for o in outs)
    voiced = [sum(c in o.text for c in cues) for o in outs]
    assert 0 < sum(voiced) / len(outs) < 3  # sparse: some, never all of them every time
    assert all(len(o.text.split()) >= 25 for o in outs)


def test_user_simulator_turn_budget():
    seed = load_builtin()[5]
    user = SimUserSimulator()
    convo = [Message("user", seed.text), Message("assistant", "Here's an overview.")]
    early = asyncio.run(user.react(PERSONA, seed, convo, 1, 3, 5, "a"))
    assert not early.satisfied and any(s in early.feedback for s in seed.slots)
    assert asyncio.run(user.react(PERSONA, seed, convo, 3, 3, 5, "a")).satisfied
    unusable = [Message("user", seed.text), Message("assistant", "Could you clarify what you mean?")]
    again = asyncio.run(user.react(PERSONA, seed, unusable, 3, 3, 5, "a"))
    assert not again.satisfied and again.feedback


def test_assistant_never_sees_persona_and_is_deterministic():
    a = SimAssistant()
    convo = [Message("user", "Explain compound interest for savings accounts.")]
    assert asyncio.run(a.reply("m1", convo, "k")) == asyncio.run(a.reply("m1", convo, "k"))
    unusable = load_world()["assistant"]["unusable"]
    replies = [asyncio.run(a.reply("m1", convo, f"k{i}")) for i in range(30)]
    assert all("savings accounts" in r or r in unusable for r in replies)
    assert 0 < sum(r in unusable for r in replies) < 10


def test_teacher_finds_evidence_and_rewrites():
    world = load_world()
    history = ["User: Plan a trip to Lisbon. In a table please. Please cite your sources.\n[ASSISTANT_RESPONSE]",
               "User: Write a short email to my manager. My grandchildren visit soon.\n[ASSISTANT_RESPONSE]"]
    found = evidence(world, PERSONA, history)
    assert set(found) == {"format_pref_primary", "citation_pref", "age_band"}
    perfect = SimTeacher(miss_prob=0.0, weak_phrasing_prob=0.0)
    label = perfect.label(PERSONA, history, "Suggest a dinner menu for six guests.")
    assert isinstance(label, TeacherLabel)
    for dim in found:
        assert world.traits[dim].instructions_for(PERSONA[dim])[0].text in label.optimized_query
    assert "warm" not in label.reasoning  # never evidenced, so never claimed
    assert "persona" not in label.reasoning.lower()
    assert label.optimized_query.startswith("Suggest a dinner menu for six guests.")
    blind = SimTeacher(miss_prob=1.0).label(PERSONA, history, "Suggest a dinner menu.")
    assert blind.optimized_query == "Suggest a dinner menu."


def test_teacher_quotes_the_evidence_as_written_before_its_inference_in_history_order():
    world = load_world()
    history = ["User: Please cite your sources. Then IN A TABLE PLEASE.\n[ASSISTANT_RESPONSE]"]
    found = evidence(world, PERSONA, history)
    assert list(found) == ["citation_pref", "format_pref_primary"]  # the order of the cues in the history
    assert found["format_pref_primary"] == "IN A TABLE PLEASE"  # spelled as the history has it
    reasoning = SimTeacher(miss_prob=0.0, weak_phrasing_prob=0.0).label(PERSONA, history, "Plan a trip.").reasoning
    table = world.traits["format_pref_primary"]
    claim = f'they wrote "IN A TABLE PLEASE", so {table.label}: {table.phrase("table")}'
    assert claim in reasoning
    assert reasoning.index("cite your sources") < reasoning.index(claim)


def test_teacher_rewrite_drops_the_filler_sentences_and_keeps_the_request():
    from personax.llm.sim.judges import SimJudges
    world = load_world()
    filler = world["user"]["fillers"][:2]
    query = f"Plan a weekend trip to Lisbon for two. {filler[0]} In a table please. {filler[1]}"
    history = ["User: In a table please.\n[ASSISTANT_RESPONSE]"]
    label = SimTeacher(miss_prob=0.0, weak_phrasing_prob=0.0).label(PERSONA, history, query)
    instruction = world.traits["format_pref_primary"].instructions_for("table")[0].text
    assert label.optimized_query == f"Plan a weekend trip to Lisbon for two. In a table please. {instruction}"
    judges = SimJudges(world)
    assert judges.task_share(query, label.optimized_query) == 1.0  # fillers were never content
    assert SimTeacher(miss_prob=1.0).label(PERSONA, history, filler[0]).optimized_query == filler[0]


def test_teacher_told_to_read_the_query_reads_it_after_the_history():
    world = load_world()
    history = ["User: In a table please.\n[ASSISTANT_RESPONSE]"]
    query = "Plan a weekend trip to Lisbon. Please cite your sources."
    cite = world.traits["citation_pref"].instructions_for("required")[0].text
    table = world.traits["format_pref_primary"].instructions_for("table")[0].text
    both = SimTeacher(miss_prob=0.0, weak_phrasing_prob=0.0, reads_query=True).label(PERSONA, history, query)
    assert both.optimized_query == f"{query} {table} {cite}"  # history's trait first, then the query's
    assert both.reasoning.index("In a table please") < both.reasoning.index("Please cite your sources")
    history_only = SimTeacher(miss_prob=0.0, weak_phrasing_prob=0.0).label(PERSONA, history, query)
    assert history_only.optimized_query == f"{query} {table}"  # the query's cue stays as the user wrote it
    assert "cite" not in history_only.reasoning


def test_teacher_is_imperfect_but_deterministic():
    world = load_world()
    history = ["User: In a table please. Keep it brief. Please cite your sources. Be warm with me. My grandchildren."]
    teacher = SimTeacher()
    queries = [f"Question number {i}?" for i in range(60)]
    labels = [teacher.label(PERSONA, history, q) for q in queries]
    assert labels == [teacher.label(PERSONA, history, q) for q in queries]
    strong = {d: world.traits[d].instructions_for(PERSONA[d])[0].text for d in evidence(world, PERSONA, history)}
    kept = [sum(s in l.optimized_query for s in strong.values()) for l in labels]
    assert 0 < sum(kept) / len(labels) < len(strong)  # misses some, weak phrasings for others


def test_best_of_keeps_the_draw_the_deployed_model_follows_best():
    from personax.llm.sim.deployed import SimDeployed
    from personax.llm.sim.judges import SimJudges
    history = ["User: In a table please. Keep it brief. Please cite your sources. Be warm with me. My grandchildren."]
    single, best = SimTeacher(), SimTeacher(best_of=4)
    deployed, judges = SimDeployed(), SimJudges()
    share = lambda label: judges.expected_personalization_share(PERSONA, deployed.follow_odds(label.optimized_query))  # noqa: E731
    queries = [f"Question number {i}?" for i in range(30)]
    for q in queries[:5]:
        draws = [single.draw(PERSONA, history, q, i) for i in range(4)]
        assert draws[0] == single.label(PERSONA, history, q)  # draw 0 is the single-draw label
        assert share(best.label(PERSONA, history, q)) == max(map(share, draws))
    mean = lambda t: sum(share(t.label(PERSONA, history, q)) for q in queries) / len(queries)  # noqa: E731
    assert mean(best) > mean(single) + 0.05
    with pytest.raises(ValueError, match="best_of must be >= 1"):
        SimTeacher(best_of=0)


def test_message_length_band():
    assert message_length_band(["User: " + "word " * 30]) == "short"
    assert message_length_band(["no user lines"]) is None


def test_message_length_band_edges():
    assert message_length_band(["User: " + "w " * 20, "User: " + "w " * 21]) == "short"  # median 20.5
    assert message_length_band(["User: " + "w " * 200]) == "long"
