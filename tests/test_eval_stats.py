"""Bootstrap intervals and the per-method summary of scored items."""
import numpy as np
import pytest

from personax.eval.stats import bootstrap_ci, summarize_method


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


def item(sid, p, t, outcome=None, status="ok", answer="a b c", compared=None):
    compared = outcome is not None if compared is None else compared
    return {"state_id": sid, "personalization": p, "task": t, "outcome": outcome, "status": status,
            "answer": answer, "prompt": "x y", **({"pairwise": {}} if compared else {})}


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


def test_summary_of_nothing_scored_is_empty_not_an_error():
    s = summarize_method([item("s0", None, None, answer=None)], {}, seed=0, samples=10)
    assert s["personalization"] == {"mean": None, "lo": None, "hi": None, "n": 0}
    assert s["answer_words"] is None
