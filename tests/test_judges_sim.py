"""Sim judges: exact scores on constructed cases, and the sim world's central contrast (a rewrite
with reliable instructions for the true traits beats the original query and keeps the task)."""
import asyncio
import statistics

import pytest

from personax.llm.sim.deployed import SimDeployed
from personax.llm.sim.judges import SimJudges, covers, request_content
from personax.llm.sim.teacher import SimTeacher

PERSONA = {"age_band": "25_34", "role": "engineer", "length_pref": "brief", "format_pref_primary": "table",
           "tech_proficiency": "beginner", "citation_pref": "required", "query_length_pref": "short",
           "tone_pref": "warm", "domain": "writing"}
# Gradable (constraint, with instructions): age_band, role, length_pref, format_pref_primary,
# tech_proficiency, citation_pref -> 6. Traits the world knows: those + query_length_pref, tone_pref -> 8.
QUERY = ("hey so Write a short email to my manager asking to move our weekly review to next week. "
         "Keep it brief. It's for something I'm working on this week. Any help is appreciated.")
JUDGE = SimJudges()


def test_request_content_leaves_out_fillers_cues_and_the_leading_verb():
    assert request_content(JUDGE.scanner, QUERY) == ["short email", "manager asking", "move", "weekly review",
                                                     "next week"]


def test_covers_needs_the_words_adjacent_inside_one_clause():
    assert covers("Covering: short email; weekly review.", "Short  Email")
    assert not covers("Covering: short; email.", "short email")
    assert not covers("a short nice email", "short email")


def test_task_share_is_the_covered_fraction():
    assert JUDGE.task_share(QUERY, "Covering: short email; weekly review; next week; move; manager asking") == 1.0
    assert JUDGE.task_share(QUERY, "About the short email and the weekly review.") == pytest.approx(2 / 5)
    assert JUDGE.task_share(QUERY, "Something else entirely.") == 0.0
    with pytest.raises(ValueError, match="no content phrases"):
        JUDGE.task_share("Keep it brief.", "anything")


def test_personalization_counts_right_markers_and_contradictions_cancel():
    assert JUDGE.personalization_share(PERSONA, "Tailored: (format: a table) (length: brief)") == pytest.approx(2 / 6)
    # A wrong value for a gradable trait cancels one right one.
    assert JUDGE.personalization_share(PERSONA, "(format: a table) (length: brief) (length: very short)") == \
        pytest.approx(1 / 6)
    assert JUDGE.personalization_share(PERSONA, "(format: bullet points)") == 0.0
    # tone_pref is not a constraint, domain has no marker: neither counts.
    assert JUDGE.personalization_share(PERSONA, "(tone: warm)") == 0.0
    every = " ".join(f"({t.label}: {t.phrase(PERSONA[d])})" for d, t in JUDGE.world.traits.items() if d in PERSONA)
    assert JUDGE.personalization_share(PERSONA, every) == 1.0
    with pytest.raises(ValueError, match="none of the gradable constraint traits"):
        JUDGE.personalization_share({"tone_pref": "warm"}, "(tone: warm)")


def test_profile_share_names_label_and_value_and_penalises_wrong_claims():
    profile = ("From the history I infer: format: a table (they wrote \"in a table please\"); "
               "technical level: a beginner; message length: short messages.")
    assert JUDGE.profile_share(profile, PERSONA) == pytest.approx(3 / 8)
    # "message length: very short" is not also a claim of "length: very short".
    assert JUDGE.profile_share("message length: very short", PERSONA) == 0.0
    assert JUDGE.profile_share("format: a table; format: bullet points", PERSONA) == 0.0
    shotgun = "; ".join(f"{t.label}: {t.phrase(v)}" for d, t in JUDGE.world.traits.items()
                        for v in t.phrases)
    assert JUDGE.profile_share(shotgun, PERSONA) == 0.0
    assert JUDGE.profile_share("", PERSONA) == 0.0


def test_judge_scales_and_pairwise_order():
    full = "Covering: short email; manager asking; move; weekly review; next week."
    tailored = full + "\nTailored: (format: a table)"
    partial = "Covering: short email.\nTailored: (format: a table) (length: brief) (audience age: around thirty)"

    async def run():
        return (await JUDGE.profile("format: a table", PERSONA), await JUDGE.task_completion(QUERY, partial),
                await JUDGE.personalization(PERSONA, QUERY, tailored),
                [await JUDGE.pairwise(PERSONA, QUERY, a, b) for a, b in
                 ((tailored, full), (full, tailored), (full, full), (partial, full), (full, partial))])

    profile, task, personal, verdicts = asyncio.run(run())
    assert profile == pytest.approx(1 + 4 / 8) and task == pytest.approx(1 + 9 / 5)
    assert personal == pytest.approx(1 + 9 / 6)
    # The task comes first; personalization decides between answers that do the task equally.
    assert verdicts == ["A", "B", "tie", "B", "A"]


def mean_scores(prompt: str, n: int = 60) -> tuple[float, float]:
    model = SimDeployed(seed=5)

    async def run():
        return await asyncio.gather(*(model.answer(prompt, i) for i in range(n)))

    got = asyncio.run(run())
    return (statistics.mean(JUDGE.personalization_share(PERSONA, a) for a in got),
            statistics.mean(JUDGE.task_share(QUERY, a) for a in got))


def test_rewrite_with_reliable_instructions_beats_the_original_and_keeps_the_task():
    rewrite = (QUERY + " Format the answer as a table. Keep the answer brief. Pitch the technical level at a "
               "beginner. Include a cited source for every claim. Frame the answer for someone working in "
               "engineering. Keep in mind the reader is around thirty.")
    original_personal, original_task = mean_scores(QUERY)
    rewrite_personal, rewrite_task = mean_scores(rewrite)
    assert rewrite_task == original_task == 1.0
    assert rewrite_personal > original_personal + 0.5
    # Weak phrasings of the same traits help less.
    weak = (QUERY + " Table could work as a format. A brief answer would be nice. The user seems to be at a "
            "beginner level. Consider a cited source for every claim.")
    assert mean_scores(weak)[0] < rewrite_personal - 0.2
    # Dropping the request's content loses task coverage however well it personalizes.
    short = "Write an email. Format the answer as a table. Keep the answer brief."
    assert mean_scores(short)[1] == 0.0


def test_teacher_rewrite_wins_pairwise_more_often_than_it_loses():
    history = ["User: in a table please, I need help.\nAssistant: [ASSISTANT_RESPONSE]\n"
               "User: I'm new to this, so no jargon please. Please cite your sources."]
    label = SimTeacher(seed=0, miss_prob=0.0, weak_phrasing_prob=0.0).label(PERSONA, history, QUERY)
    assert JUDGE.profile_share(label.reasoning, PERSONA) == pytest.approx(3 / 8)
    model = SimDeployed(seed=1)

    async def run():
        original = await model.answer(QUERY)
        rewrites = await asyncio.gather(*(model.answer(label.optimized_query, i) for i in range(40)))
        return [await JUDGE.pairwise(PERSONA, QUERY, r, original) for r in rewrites]

    verdicts = asyncio.run(run())
    assert verdicts.count("A") > 30 and verdicts.count("B") < 5
