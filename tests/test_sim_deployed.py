"""The sim deployed LLM: follows instruction phrasings at their reliability, writes markers, and
covers only the request content its prompt keeps."""
import asyncio
import re

import pytest

from personax.llm.sim.deployed import FILLER, Scanner, SimDeployed, content_runs, strip_spans, trait_values
from personax.llm.sim.judges import SimJudges, covers
from personax.llm.sim.world import load_world

QUERY = "Write a short email to my manager asking to move our weekly review to next week."
WORLD = load_world()


def answers(model: SimDeployed, prompt: str, n: int) -> list[str]:
    async def run():
        return await asyncio.gather(*(model.answer(prompt, i) for i in range(n)))
    return asyncio.run(run())


def follow_rate(model: SimDeployed, prompt: str, marker: str, n: int) -> float:
    return sum(marker in a for a in answers(model, prompt, n)) / n


def test_reliable_phrasings_are_followed_more_often_than_weak_ones():
    model = SimDeployed(seed=3)
    n = 120
    for dim, trait in WORLD.traits.items():
        if len(trait.instructions) < 2:
            continue
        value = trait_values(WORLD, dim)[0]
        strong, *_, weak = trait.instructions_for(value)
        marker = trait.marker(value)
        strong_rate = follow_rate(model, f"{QUERY} {strong.text}", marker, n)
        weak_rate = follow_rate(model, f"{QUERY} {weak.text}", marker, n)
        assert strong_rate > weak_rate, (dim, strong.text, strong_rate, weak.text, weak_rate)
        # Each rate is near its phrasing's reliability (binomial sd <= 0.046 at n=120).
        assert abs(strong_rate - strong.reliability) < 0.15, (dim, strong_rate, strong.reliability)
        assert abs(weak_rate - weak.reliability) < 0.15, (dim, weak_rate, weak.reliability)


def test_follow_rate_matches_reliability_over_many_seeds():
    trait = WORLD.traits["format_pref_primary"]
    strong, weak = trait.instructions_for("table")
    rates = {}
    for instruction in (strong, weak):
        hits = sum(trait.marker("table") in a for seed in range(4)
                   for a in answers(SimDeployed(seed=seed), f"{QUERY} {instruction.text}", 60))
        rates[instruction.reliability] = hits / 240
    # Binomial sd at n=240: 0.014 (0.95) and 0.032 (0.5).
    assert rates[0.95] == pytest.approx(0.95, abs=0.05) and rates[0.5] == pytest.approx(0.5, abs=0.1)


def test_answer_is_deterministic_per_seed_prompt_and_sample_index():
    prompt = f"{QUERY} Format the answer as a table. A brief answer would be nice."
    first, again = answers(SimDeployed(seed=1), prompt, 30), answers(SimDeployed(seed=1), prompt, 30)
    assert first == again
    assert len(set(first)) > 1  # the sample index draws afresh
    assert answers(SimDeployed(seed=2), prompt, 30) != first


def test_markers_only_for_instructed_traits_and_never_without_instructions():
    model = SimDeployed()
    plain = answers(model, QUERY, 20)
    assert all("(" not in a for a in plain)  # no trait asked, no marker: a generic answer
    prompt = f"{QUERY} Format the answer as a table. Keep the answer very short. Write any code in Rust."
    asked = {"(format: a table)", "(length: very short)", "(code language: Rust)"}
    written = [set(re.findall(r"\([^()]+\)", a)) for a in answers(model, prompt, 40)]
    assert all(w <= asked for w in written)
    assert set().union(*written) == asked


def test_user_cues_followed_at_cue_reliability_and_implicit_hints_never():
    model = SimDeployed(seed=0, cue_reliability=0.3)
    rate = follow_rate(model, f"{QUERY} Keep it brief.", "(length: brief)", 300)
    assert rate == pytest.approx(0.3, abs=0.08)
    assert follow_rate(SimDeployed(cue_reliability=1.0), f"{QUERY} Keep it brief.", "(length: brief)", 20) == 1.0
    # "my grandchildren" hints at the age band; the model does not act on hints.
    assert follow_rate(model, f"{QUERY} It's for my grandchildren.", "(audience age:", 50) == 0.0


def test_most_reliable_ask_wins_when_a_prompt_asks_for_two_values():
    model = SimDeployed(cue_reliability=0.5)  # the cue (0.5) loses to the instruction (0.95)
    for a in answers(model, f"{QUERY} Keep it brief. Keep the answer as thorough as possible.", 40):
        assert "(length: brief)" not in a
    thorough = follow_rate(model, f"{QUERY} Keep it brief. Keep the answer as thorough as possible.",
                           "(length: as thorough as possible)", 200)
    assert thorough == pytest.approx(0.95, abs=0.06)


def test_covers_only_the_content_the_prompt_keeps():
    model = SimDeployed()
    full = answers(model, QUERY, 1)[0]
    dropped = answers(model, "Write a short email to my manager asking to move it.", 1)[0]
    for phrase in ("short email", "manager asking", "weekly review", "next week"):
        assert covers(full, phrase)
    assert covers(dropped, "short email") and not covers(dropped, "weekly review")
    judge = SimJudges()
    assert judge.task_share(QUERY, full) == 1.0
    assert judge.task_share(QUERY, dropped) == pytest.approx(3 / 5)  # short email, manager asking, move


def test_instructions_and_cues_are_not_task_content():
    scanner = Scanner(WORLD)
    text = "hey so Plan a trip to Lisbon. Keep it brief. Any help is appreciated. Format the answer as a table."
    asks = scanner.scan(text)
    assert [(a.dim, a.value) for a in asks] == [("formality_level", "very_casual"), ("length_pref", "brief"),
                                                  (FILLER, ""), ("format_pref_primary", "table")]
    assert content_runs(strip_spans(text, asks)) == ["Plan", "trip", "Lisbon"]


def test_nested_phrasings_resolve_to_the_longest():
    # "Use lots of examples" (example_pref) must not also read as a shorter phrasing inside it.
    asks = Scanner(WORLD).scan("Use examples from healthcare.")
    assert [(a.dim, a.value) for a in asks] == [("industry", "healthcare")]


def test_content_runs_split_at_clauses_and_stopwords():
    assert content_runs("Compare Python and Rust, for data pipelines; briefly.") == \
        ["Compare Python", "Rust", "data pipelines", "briefly"]
    assert content_runs("the a an") == []
