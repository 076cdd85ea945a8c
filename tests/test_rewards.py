"""Rewards: registry, format, pairwise A/B randomisation, NaN for failures, combine, rollout answers."""
import asyncio
import collections
import math

import numpy as np
import pytest

from personax.data.examples import PPOptExample
from personax.data.policy_io import parse_output
from personax.llm.sim.deployed import SimDeployed
from personax.llm.sim.judges import SimJudges
from personax.rewards import (REWARDS, Answers, RewardContext, RolloutBatch, build_rollout_answers, combine,
                              rollout_batch)
from personax.rewards.formatting import well_formed

PERSONA = {"age_band": "25_34", "role": "engineer", "length_pref": "brief", "format_pref_primary": "table",
           "tech_proficiency": "beginner", "citation_pref": "required", "query_length_pref": "short"}
QUERY = "Write a short email to my manager asking to move our weekly review to next week."
GOOD = ("<REASONING>format: a table; length: brief; technical level: a beginner</REASONING>"
        f"<PROMPT>{QUERY} Format the answer as a table. Keep the answer brief. "
        "Pitch the technical level at a beginner.</PROMPT>")


def example(i: int = 0, query: str = QUERY) -> PPOptExample:
    return PPOptExample(state_id=f"s{i}", persona_id=f"p{i}", persona=dict(PERSONA), history_texts=("User: hi",),
                        original_query=query, input="state text")


def batch_of(texts, answers=None, examples=None) -> RolloutBatch:
    examples = examples or [example(i // 4) for i in range(len(texts))]
    parsed = [parse_output(t, e.original_query) for e, t in zip(examples, texts)]
    answers = answers or [Answers("original answer", f"rewrite answer {i}") for i in range(len(texts))]
    return RolloutBatch.build(examples, texts, parsed, answers)


class ScriptedJudges:
    """Pairwise: a fixed verdict, or the answer containing `prefer`; profile: a fixed rating."""

    def __init__(self, verdict=None, prefer=None, profile=4.0):
        self.verdict, self.prefer, self.profile_score = verdict, prefer, profile
        self.stats, self.seen = collections.Counter(), []

    async def pairwise(self, persona, query, a, b):
        self.seen.append((query, a, b))
        if self.prefer is None:
            return self.verdict
        return "A" if self.prefer in a else "B" if self.prefer in b else "tie"

    async def profile(self, profile, persona):
        self.stats["profile/calls"] += 1
        return self.profile_score


def score(name, batch, ctx):
    return asyncio.run(REWARDS.get(name)(batch, ctx))


def test_registry_names_and_unknown_names():
    assert REWARDS.names() == ["format", "learned_rm", "profile", "repetition", "sim_personalization",
                               "sim_personalization_expected", "sim_task", "task_pairwise"]
    with pytest.raises(KeyError, match="unknown reward 'helpfulness'; registered: format, learned_rm, profile"):
        combine({"helpfulness": 1.0})
    with pytest.raises(ValueError, match="all zero"):
        combine({"format": 0.0})
    with pytest.raises(ValueError, match="must be finite"):
        combine({"format": math.inf})


@pytest.mark.parametrize("text,ok", [
    (GOOD, True), ("  <reasoning>p</reasoning>\n<prompt>q</prompt>\n", True),
    ("<REASONING>p</REASONING>", False), ("<PROMPT>q</PROMPT>", False), ("just a prompt", False),
    ("<REASONING> </REASONING><PROMPT>q</PROMPT>", False), ("<REASONING>p</REASONING><PROMPT>q</PROMPT> extra", False),
    ("<REASONING>p<PROMPT>x</PROMPT></REASONING><PROMPT>q</PROMPT>", False),
    ("<REASONING>x < y</REASONING><PROMPT>is 2 < 3?</PROMPT>", True)])
def test_format_reward(text, ok):
    assert well_formed(text) is ok


def test_format_reward_scores_and_status_metrics():
    scores_N, metrics = score("format", batch_of([GOOD, "no tags at all", "<REASONING>p</REASONING><PROMPT></PROMPT>"]),
                              RewardContext())
    assert scores_N.dtype == np.float32 and scores_N.tolist() == [1.0, 0.0, 0.0]
    assert metrics["status_no_prompt_tag_frac"] == pytest.approx(1 / 3)
    assert metrics["status_empty_frac"] == pytest.approx(1 / 3)


def test_repetition_reward_counts_repeated_word_4grams_in_each_part():
    looped = ('<REASONING>they wrote "keep it brief", so length: brief; they wrote "keep it brief", so length: brief'
              '</REASONING><PROMPT>Plan a trip.</PROMPT>')
    # The profile's 16 words give 13 4-grams; those starting at words 9-12 repeat words 1-4's, the last one
    # ends in "brief" where its twin ends in "brief;": 9 distinct. The rewrite has no 4-gram.
    words = 'they wrote "keep it brief", so length: brief; they wrote "keep it brief", so length: brief'.lower().split()
    grams = [tuple(words[i:i + 4]) for i in range(len(words) - 3)]
    assert (len(grams), len(set(grams))) == (13, 9)
    cue_kept = ('<REASONING>they wrote "keep it brief", so length: brief</REASONING>'
                '<PROMPT>Plan a trip. Keep it brief, please.</PROMPT>')  # the same cue in both parts: no repeat
    scores_N, metrics = score("repetition", batch_of([GOOD, looped, cue_kept, "a b c"]), RewardContext())
    assert scores_N.dtype == np.float32
    np.testing.assert_allclose(scores_N, [1.0, 9 / 13, 1.0, 1.0], rtol=1e-6)  # under 4 words: nothing to repeat
    assert metrics["repeats_frac"] == 0.25 and metrics["mean"] == pytest.approx((3 + 9 / 13) / 4) and metrics["nan"] == 0


def test_pairwise_ab_order_is_random_and_mapped_back():
    n = 400
    batch = batch_of([GOOD] * n)
    always_a = ScriptedJudges(verdict="A")
    scores_N, metrics = score("task_pairwise", batch, RewardContext(judges=always_a, seed=7))
    # A judge with pure position bias wins about half the time: the bias is not reward.
    assert 0.43 < scores_N.mean() < 0.57
    assert metrics["rewrite_shown_as_a_frac"] == pytest.approx(scores_N.mean())
    assert all(q == QUERY for q, _, _ in always_a.seen)  # judged against the ORIGINAL query
    # A judge that prefers the rewrite's answer wherever it is shown: every rollout wins.
    scores_N, metrics = score("task_pairwise", batch, RewardContext(judges=ScriptedJudges(prefer="rewrite answer")))
    assert scores_N.tolist() == [1.0] * n and metrics["win_frac"] == 1.0
    scores_N, metrics = score("task_pairwise", batch, RewardContext(judges=ScriptedJudges(prefer="original answer")))
    assert scores_N.tolist() == [0.0] * n and metrics["lose_frac"] == 1.0
    # Another step draws another order.
    a_seen = [a.startswith("rewrite") for _, a, _ in always_a.seen]
    again = ScriptedJudges(verdict="A")
    score("task_pairwise", batch, RewardContext(judges=again, seed=7, step=1))
    assert [a.startswith("rewrite") for _, a, _ in again.seen] != a_seen


def test_pairwise_ties_unparseable_failures_and_identical_answers():
    answers = [Answers("orig", "new"), Answers("orig", None, "TimeoutError: slow"), Answers("same", "same"),
               Answers("orig", "new2")]
    batch = batch_of([GOOD] * 4, answers)
    scores_N, metrics = score("task_pairwise", batch, RewardContext(judges=ScriptedJudges(verdict="tie")))
    assert scores_N[0] == 0.0 and math.isnan(scores_N[1]) and scores_N[2] == 0.0 and scores_N[3] == 0.0
    assert metrics["failed"] == 1 and metrics["identical"] == 1 and metrics["tie_frac"] == 1.0
    scores_N, metrics = score("task_pairwise", batch, RewardContext(judges=ScriptedJudges(verdict=None)))
    assert math.isnan(scores_N[0]) and metrics["unparseable"] == 2 and metrics["nan"] == 3
    with pytest.raises(ValueError, match="needs judges"):
        score("task_pairwise", batch, RewardContext())


def test_profile_reward_maps_the_scale_and_skips_empty_profiles():
    judges = ScriptedJudges(profile=4.0)
    batch = batch_of([GOOD, "<PROMPT>only a prompt</PROMPT>"])
    scores_N, metrics = score("profile", batch, RewardContext(judges=judges))
    assert scores_N.tolist() == [0.75, 0.0] and judges.stats["profile/calls"] == 1 and metrics["empty_profile"] == 1
    judges.profile_score = math.nan  # the judge's reply was unreadable
    assert math.isnan(score("profile", batch, RewardContext(judges=judges))[0][0])
    sim = SimJudges()
    scores_N, _ = score("profile", batch, RewardContext(judges=sim))
    assert scores_N[0] == pytest.approx(sim.profile_share(parse_output(GOOD, QUERY).reasoning, PERSONA))
    assert scores_N[0] == pytest.approx(3 / 7)  # 3 of the persona's 7 world traits named rightly


def test_sim_rewards_score_the_rewrite_answer_and_log_the_original():
    answers = [Answers("Covering: short email; manager asking; move; weekly review; next week.",
                       "Covering: short email.\nTailored: (format: a table) (length: brief)"),
               Answers("x", None, "failed")]
    batch = batch_of([GOOD, GOOD], answers)
    personal_N, personal = score("sim_personalization", batch, RewardContext())
    task_N, task = score("sim_task", batch, RewardContext())
    assert personal_N[0] == pytest.approx(2 / 6) and task_N[0] == pytest.approx(1 / 5)
    assert math.isnan(personal_N[1]) and math.isnan(task_N[1])
    assert personal["original_mean"] == 0.0 and task["original_mean"] == 1.0
    assert task["delta"] == pytest.approx(1 / 5 - 1.0) and task["nan"] == 1


def test_expected_personalization_reward_reads_the_rewrites_asks():
    # PERSONA's gradable traits: role, length, format, technical level, sources, age (6).
    world = SimJudges().world
    weak_table = world.traits["format_pref_primary"].instructions_for("table")[-1]
    texts = [GOOD,  # three right asks, each in its most reliable phrasing
             f"<REASONING>x</REASONING><PROMPT>{QUERY} {weak_table.text}</PROMPT>",
             f"<REASONING>x</REASONING><PROMPT>{QUERY} Keep the answer detailed.</PROMPT>",  # a wrong value
             f"<REASONING>x</REASONING><PROMPT>{QUERY}</PROMPT>"]
    deployed = SimDeployed(seed=0)
    scores_N, metrics = score("sim_personalization_expected", batch_of(texts), RewardContext(sim_deployed=deployed))
    reliability = {d: a.reliability for d, a in deployed.follow_odds(parse_output(GOOD, QUERY).prompt).items()}
    assert set(reliability) == {"format_pref_primary", "length_pref", "tech_proficiency"}
    assert scores_N[0] == pytest.approx(sum(reliability.values()) / 6)
    assert scores_N[1] == pytest.approx(weak_table.reliability / 6) and scores_N[1] < scores_N[0] / 3 + 1e-6
    detailed = deployed.follow_odds("Keep the answer detailed.")["length_pref"]
    assert detailed.value != "brief" and scores_N[2] == pytest.approx(-detailed.reliability / 6)
    assert scores_N[3] == 0.0 and metrics["original_mean"] == 0.0
    assert metrics["delta"] == pytest.approx(float(scores_N.mean()))
    # Its mean over the deployed model's draws is what the sampled reward averages to (before the floor at 0).
    judges, n = SimJudges(), 400
    sampled = [judges.personalization_share(PERSONA, asyncio.run(deployed.answer(parse_output(GOOD, QUERY).prompt, i)))
               for i in range(n)]
    assert abs(np.mean(sampled) - scores_N[0]) < 0.03
    with pytest.raises(ValueError, match="needs rewards.deployed.backend='sim'"):
        score("sim_personalization_expected", batch_of(texts), RewardContext())


def test_combine_weights_components_and_nan():
    answers = [Answers("orig", "new"), Answers("orig", None, "failed")]
    batch = batch_of([GOOD, "no tags"], answers)
    ctx = RewardContext(judges=ScriptedJudges(prefer="new", profile=5.0))
    total = combine({"profile": 0.3, "task_pairwise": 0.7, "format": 0.0})
    total_N, components, metrics = asyncio.run(total(batch, ctx))
    assert total_N.dtype == np.float32
    assert total_N[0] == pytest.approx(0.3 * 1.0 + 0.7 * 1.0)
    assert math.isnan(total_N[1])  # the weighted pairwise reward failed
    assert components["format"].tolist() == [1.0, 0.0]
    assert metrics["reward/format/mean"] == 0.5 and metrics["reward/profile/weight"] == 0.3
    assert metrics["reward/total/nan"] == 1 and metrics["reward/task_pairwise/failed"] == 1
    assert metrics["judge/profile/calls"] == 1  # the judges' own counters ride along
    # A weight-0 component's NaN does not make the total NaN.
    only_format = combine({"format": 1.0, "task_pairwise": 0.0})
    total_N, _, _ = asyncio.run(only_format(batch, ctx))
    assert total_N.tolist() == [1.0, 0.0]


class CountingDeployed:
    def __init__(self, fail_on=()):
        self.calls, self.fail_on = collections.Counter(), set(fail_on)

    async def answer(self, prompt, sample_index=0):
        self.calls[prompt] += 1
        await asyncio.sleep(0)
        if prompt in self.fail_on:
            raise RuntimeError("LLM call failed: server_error after 7 attempts")
        return f"answer to {prompt}"


def test_rollout_answers_ask_once_per_distinct_prompt_and_record_failures():
    examples = [example(0)] * 4 + [example(1, "Plan a weekend in Lisbon.")] * 4
    texts = ["<PROMPT>A</PROMPT>", "<PROMPT>A</PROMPT>", "<PROMPT>B</PROMPT>", "no tags <PROMPT></PROMPT>",
             "<PROMPT>C</PROMPT>", "<PROMPT>D</PROMPT>", "<PROMPT>Plan a weekend in Lisbon.</PROMPT>",
             "<PROMPT>B</PROMPT>"]
    deployed = CountingDeployed(fail_on={"C"})
    batch = asyncio.run(rollout_batch(examples, texts, deployed, concurrency=3))
    # 2 original queries + A, B, C, D; the empty prompt fell back to its query; "B" is shared.
    assert set(deployed.calls) == {QUERY, "Plan a weekend in Lisbon.", "A", "B", "C", "D"}
    assert all(n == 1 for n in deployed.calls.values())
    answers = [r.answers for r in batch.rollouts]
    assert answers[0] == Answers(f"answer to {QUERY}", "answer to A")
    assert answers[3].rewrite == answers[3].original == f"answer to {QUERY}"
    assert answers[4].rewrite is None and "server_error" in answers[4].error and not answers[4].ok
    assert all(a.ok for i, a in enumerate(answers) if i != 4)
    with pytest.raises(ValueError, match="2 examples but 1 parsed"):
        asyncio.run(build_rollout_answers(examples[:2], [batch.rollouts[0].parsed], deployed))


def test_sim_end_to_end_good_rewrite_outscores_copying_the_query():
    examples = [example(0)] * 8
    copy = f"<REASONING>nothing to go on</REASONING><PROMPT>{QUERY}</PROMPT>"
    texts = [GOOD] * 4 + [copy] * 4
    batch = asyncio.run(rollout_batch(examples, texts, SimDeployed(seed=0)))
    sim = SimJudges()
    total = combine({"profile": 0.3, "task_pairwise": 0.7, "sim_personalization": 0.0, "sim_task": 0.0})
    total_N, components, metrics = asyncio.run(total(batch, RewardContext(judges=sim, sim=sim)))
    assert total_N[:4].mean() > total_N[4:].mean() + 0.5
    assert components["sim_task"].tolist() == [1.0] * 8
    assert components["task_pairwise"][4:].tolist() == [0.0] * 4  # same prompt, same answer: no win
    assert metrics["reward/task_pairwise/identical"] == 4


def test_sim_check_orders_copy_teacher_oracle():
    from personax.rewards.sim_check import check
    history = ("User: in a table please, I need help with this.\nAssistant: [ASSISTANT_RESPONSE]\n"
               "User: I'm new to this, so no jargon please. Please cite your sources.",)
    examples = [PPOptExample(state_id=f"s{i}", persona_id=f"p{i}", persona=dict(PERSONA), history_texts=history,
                             original_query=q, input="state")
                for i, q in enumerate((QUERY, "Plan a weekend in Lisbon for two people on a budget."))]
    result = asyncio.run(check(examples))
    assert result["copy"]["total/mean"] == 0.0
    assert 0.0 < result["teacher"]["total/mean"] < result["oracle"]["total/mean"]
    assert result["oracle"]["profile/mean"] == 1.0 and result["oracle"]["sim_task/mean"] == 1.0
