"""Bootstrap intervals and the per-method summary of scored items."""
import numpy as np
import pytest

from personax.eval.stats import bootstrap_ci, heldout_reward, heldout_reward_formula, stage_gains, summarize_method


def test_bootstrap_interval_contains_the_mean_and_shrinks_with_n():
    rng = np.random.default_rng(1)
    widths = []
    for n in (10, 100, 1000):
        values = rng.normal(5.0, 2.0, n)
        lo, hi = bootstrap_ci(values, seed=0)
        assert lo < values.mean() < hi
        widths.append(hi - lo)
    assert widths[0] > 2 * widths[1] > 4 * widths[2]  # ~1/sqrt(n)
    # 95% of a normal mean: about ±1.96 σ/√n
    assert widths[2] == pytest.approx(2 * 1.96 * 2.0 / np.sqrt(1000), rel=0.15)


def test_bootstrap_is_seeded():
    values = np.arange(20.0)
    assert bootstrap_ci(values, seed=3) == bootstrap_ci(values, seed=3)
    assert bootstrap_ci(values, seed=3) != bootstrap_ci(values, seed=4)
    assert bootstrap_ci([4.0] * 5, seed=0) == (4.0, 4.0)
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_ci(values, seed=0, confidence=1.5)


def test_one_item_a_group_is_the_item_bootstrap_and_a_persona_counts_once_not_thrice():
    values_N = np.random.default_rng(2).normal(0.0, 1.0, 30)
    draws_SxN = np.random.default_rng(5).integers(0, 30, (400, 30))  # the item resample, written out
    tail = (1 - 0.95) / 2 * 100
    direct = np.percentile(values_N[draws_SxN].mean(axis=1), [tail, 100 - tail])
    assert bootstrap_ci(values_N, seed=5, samples=400) == tuple(direct)
    assert bootstrap_ci(values_N, seed=5, samples=400, groups_N=[f"p{i}" for i in range(30)]) == tuple(direct)
    # Three identical states a persona hold no more information than one: grouped, the interval is the
    # one-state-a-persona interval; resampled as independent states it is ~sqrt(3) too narrow.
    thrice_N, personas_N = np.repeat(values_N, 3), np.repeat(np.arange(30), 3)
    assert bootstrap_ci(thrice_N, 5, 400, groups_N=personas_N) == pytest.approx(direct)
    lo, hi = bootstrap_ci(thrice_N, 5, 400)
    assert (hi - lo) < 0.7 * (direct[1] - direct[0])
    with pytest.raises(ValueError, match="2 groups for 3 values"):
        bootstrap_ci([1.0, 2.0, 3.0], 0, groups_N=["a", "b"])


def test_held_out_summaries_resample_personas():
    baseline = {f"s{i}": item(f"s{i}", 1.0, 10.0) for i in range(24)}
    scores = np.random.default_rng(3).uniform(1, 10, 8)
    one = [{**item(f"s{i}", scores[i], 10.0), "persona_id": f"p{i}"} for i in range(8)]
    three = [{**item(f"s{3 * i + k}", scores[i], 10.0), "persona_id": f"p{i}"} for i in range(8) for k in range(3)]
    a, b = (summarize_method(x, baseline, seed=0, samples=300) for x in (one, three))
    assert a["personalization"]["n"] == 8 and b["personalization"]["n"] == 24
    for key in ("personalization", "delta_personalization"):
        assert [b[key][k] for k in ("lo", "mean", "hi")] == pytest.approx([a[key][k] for k in ("lo", "mean", "hi")])
    gains = stage_gains({"x": [dict(i, personalization=1.0) for i in three], "y": three}, [("x", "y")], {}, 0, 300)
    assert (gains["x->y"]["personalization"]["lo"], gains["x->y"]["personalization"]["hi"]) == pytest.approx(
        (a["delta_personalization"]["lo"], a["delta_personalization"]["hi"]))


def shares(outcome):
    """One answer's pairwise outcome as the harness stores it: the share of each outcome."""
    return None if outcome is None else {o: float(o == outcome) for o in ("win", "tie", "lose")}


def item(sid, p, t, outcome=None, status="ok", answer="a b c", compared=None):
    compared = outcome is not None if compared is None else compared
    return {"state_id": sid, "personalization": p, "task": t, "status": status,
            "answer": answer, "prompt": "x y", **({"outcomes": shares(outcome)} if compared else {})}


def test_summary_means_paired_deltas_outcomes_and_rates():
    baseline = {f"s{i}": item(f"s{i}", 2.0 + i, 8.0) for i in range(4)}
    items = [item("s0", 6.0, 8.0, "win"), item("s1", 7.0, 7.0, "tie"), item("s2", None, 9.0, "lose", "empty"),
             item("s3", 9.0, None, None, "no_prompt_tag", compared=True), item("s4", 1.0, 1.0, answer=None)]
    s = summarize_method(items, baseline, seed=0, samples=200)
    assert s["n"] == 5 and s["answer_failed_rate"] == 0.2
    assert s["personalization"]["mean"] == pytest.approx((6 + 7 + 9) / 3)
    # paired: only states where both sides have a score; s4 has no answer
    assert s["delta_personalization"]["mean"] == pytest.approx(((6 - 2) + (7 - 3) + (9 - 5)) / 3)
    assert s["delta_task"]["mean"] == pytest.approx((0 - 1 + 1) / 3)
    assert [s[o]["mean"] for o in ("win", "tie", "lose")] == pytest.approx([1 / 3] * 3)
    assert s["personalization_judge_failed_rate"] == 0.25 and s["task_judge_failed_rate"] == 0.25
    assert s["pairwise_judge_failed_rate"] == 0.25  # s3 was compared but got no verdict
    assert s["fallback_rate"] == 0.2 and s["no_prompt_tag_rate"] == 0.2
    assert s["answer_words"] == 3.0 and s["prompt_words"] == 2.0
    lo, hi = s["delta_personalization"]["lo"], s["delta_personalization"]["hi"]
    assert lo <= 4.0 <= hi


def test_outcomes_of_several_answers_count_as_shares_of_one_item():
    baseline = {f"s{i}": item(f"s{i}", 1.0, 10.0) for i in range(2)}
    items = [{**item("s0", 4.0, 10.0), "outcomes": {"win": 0.75, "tie": 0.25, "lose": 0.0}, "profile": 3.0},
             {**item("s1", 2.0, 10.0), "outcomes": {"win": 0.0, "tie": 0.5, "lose": 0.5}, "profile": 3.0}]
    s = summarize_method(items, baseline, seed=0, samples=50, weights=WEIGHTS)
    assert [s[o]["mean"] for o in ("win", "tie", "lose")] == pytest.approx([0.375, 0.375, 0.25])
    assert s["reward"]["mean"] == pytest.approx(0.15 + 0.7 * 0.375)


def test_summary_of_nothing_scored_is_empty_not_an_error():
    s = summarize_method([item("s0", None, None, answer=None)], {}, seed=0, samples=10)
    assert s["personalization"] == {"mean": None, "lo": None, "hi": None, "n": 0}
    assert s["answer_words"] is None


WEIGHTS = {"profile": 0.3, "task_pairwise": 0.7, "format": 0.0}


def test_heldout_reward_is_the_grpo_rewards_judged_terms():
    assert heldout_reward({"profile": 5.0, "outcomes": shares("win")}, WEIGHTS) == pytest.approx(1.0)
    assert heldout_reward({"profile": 3.0, "outcomes": shares("tie")}, WEIGHTS) == pytest.approx(0.3 * 0.5)
    assert heldout_reward({"profile": 1.0, "outcomes": shares("win")}, WEIGHTS) == pytest.approx(0.7)
    assert heldout_reward({"outcomes": shares("win")}, WEIGHTS) is None  # no profile: not a policy's item
    assert heldout_reward({"profile": 2.0, "outcomes": shares(None)}, WEIGHTS) is None


def test_heldout_reward_reads_the_sim_shares_back_from_the_scores():
    weights = {"profile": 0.3, "task_pairwise": 0.3, "sim_personalization": 0.4}
    item = {"profile": 3.0, "outcomes": shares("lose"), "personalization": 5.5, "task": 10.0}
    assert heldout_reward(item, weights) == pytest.approx(0.3 * 0.5 + 0.4 * 0.5)
    assert heldout_reward(item, weights | {"sim_task": 0.5}) == pytest.approx(0.35 + 0.5)
    assert heldout_reward({"profile": 3.0, "outcomes": shares("win")}, weights) is None  # no personalization score
    expected = {"profile": 0.3, "task_pairwise": 0.0, "sim_personalization_expected": 0.4, "format": 0.1}
    assert heldout_reward_formula(expected) == "0.3 · (profile − 1) / 4 + 0.4 · (personalization − 1) / 9"
    assert heldout_reward(item, expected) == pytest.approx(0.3 * 0.5 + 0.4 * 0.5)  # estimated by the measured share


def test_summary_has_profile_and_reward_only_for_methods_that_write_a_profile():
    baseline = {f"s{i}": item(f"s{i}", 1.0, 10.0) for i in range(3)}
    policy = [{**item("s0", 4.0, 10.0, "win"), "profile": 5.0}, {**item("s1", 1.0, 10.0, "tie"), "profile": 1.0},
              {**item("s2", 1.0, 4.0, "lose"), "profile": 3.0}]
    s = summarize_method(policy, baseline, seed=0, samples=100, weights=WEIGHTS)
    assert s["profile"]["mean"] == pytest.approx(3.0)
    assert s["reward"]["mean"] == pytest.approx((1.0 + 0.0 + 0.15) / 3)
    assert s["distinct_4grams"] == 1.0  # no profile text, a 2-word prompt: nothing to repeat
    policy[0]["extra"] = {"profile": "length: brief, so length: brief, so length: brief"}  # 5 4-grams, 4 distinct
    s = summarize_method(policy, baseline, seed=0, samples=100, weights=WEIGHTS)
    assert s["distinct_4grams"] == pytest.approx((4 / 5 + 1 + 1) / 3)
    assert "reward" not in summarize_method(list(baseline.values()), baseline, seed=0, samples=10)


def test_stage_gains_are_paired_by_state():
    before = [{**item(f"s{i}", 1.0 + i, 10.0, "tie"), "profile": 1.0} for i in range(4)]
    after = [{**item(f"s{i}", 3.0 + i, 10.0, "win"), "profile": 1.0 + i} for i in range(1, 5)]  # s4: no pair
    g = stage_gains({"a": before, "b": after, "c": []}, [("a", "b"), ("b", "c")], WEIGHTS, samples=200)
    assert list(g) == ["a->b"]  # a stage with no items has no gain
    assert g["a->b"]["personalization"] == {"mean": 2.0, "lo": 2.0, "hi": 2.0, "n": 3}
    assert g["a->b"]["profile"]["mean"] == pytest.approx(2.0)  # +1, +2, +3 on s1-s3
    assert g["a->b"]["reward"]["mean"] == pytest.approx(0.7 + WEIGHTS["profile"] * 2.0 / 4)
    assert g["a->b"]["task"]["mean"] == 0.0
