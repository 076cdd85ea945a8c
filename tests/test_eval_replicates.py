"""Stage gains over replicate runs: per-run gains as the report has them, and a runs-and-states interval."""
import json

import numpy as np
import pytest

from personax.eval.replicates import main, replicate_gains, replicate_interval

WEIGHTS = {"profile": 0.3, "sim_personalization_expected": 0.4, "sim_task": 0.2}


def _item(method, state, pers, profile=2.0):
    return {"method": method, "state_id": f"s{state}", "personalization": pers, "task": 10.0, "answer": "a",
            "profile": profile, "outcomes": {"win": 0.0, "tie": 1.0, "lose": 0.0}}


def _run(path, grpo_gain_N, weights=WEIGHTS, sft_N=None, profile_gain=0.0):
    sft_N = np.linspace(1.0, 3.0, len(grpo_gain_N)) if sft_N is None else sft_N
    (path / "report").mkdir(parents=True)
    items = [_item("ppopt_sft", i, float(s)) for i, s in enumerate(sft_N)]
    items += [_item("ppopt_grpo", i, float(s + g), 2.0 + profile_gain)
              for i, (s, g) in enumerate(zip(sft_N, grpo_gain_N))]
    items += [{**_item("original", i, float(s)), "profile": None} for i, s in enumerate(sft_N)]  # a baseline
    (path / "report" / "items.jsonl").write_text("\n".join(json.dumps(i) for i in items))
    (path / "report" / "summary.json").write_text(json.dumps({"reward_weights": weights}))
    return path


def test_per_run_and_pooled_gains(tmp_path):
    rng = np.random.default_rng(0)
    gains = [1.0 + rng.normal(0, 0.3, 30), 0.6 + rng.normal(0, 0.3, 30)]
    runs = [_run(tmp_path / f"r{k}", g, profile_gain=0.5 * k) for k, g in enumerate(gains)]
    out = replicate_gains(runs)
    for run, g in zip(out["runs"], gains):
        assert run["personalization"]["mean"] == pytest.approx(g.mean())
        assert run["personalization"]["lo"] < g.mean() < run["personalization"]["hi"]
    pooled = out["personalization"]
    assert pooled["mean"] == pytest.approx(np.mean(gains)) and pooled["states"] == 30
    assert pooled["sd_between_runs"] == pytest.approx(np.std([g.mean() for g in gains], ddof=1))
    # Profile +0 in one run, +0.5 in the other; R moves by 0.4 / 9 a personalization point, 0.3 / 4 a profile point.
    assert [r["profile"]["mean"] for r in out["runs"]] == [0.0, 0.5] and out["profile"]["mean"] == pytest.approx(0.25)
    assert out["reward"]["mean"] == pytest.approx(np.mean(gains) * 0.4 / 9 + 0.25 * 0.3 / 4)
    assert out["task"]["mean"] == 0.0
    # From a baseline that writes no profile: no profile gain, the others as before.
    from_original = replicate_gains(runs, before="original")
    assert from_original["profile"]["mean"] is None and from_original["reward"]["mean"] is None
    assert from_original["personalization"]["states"] == 30


def test_runs_that_disagree_widen_the_interval_past_each_runs_own():
    states = np.random.default_rng(1).normal(0, 0.2, 40)
    agree = replicate_interval(np.stack([0.5 + states, 0.5 + states]))
    disagree = replicate_interval(np.stack([1.0 + states, 0.0 + states]))
    assert agree[0] > 0.3 and agree[1] < 0.7  # only the states' spread: narrow around 0.5
    assert disagree[0] < 0.1 and disagree[1] > 0.9  # a run either way: the interval spans both runs
    with pytest.raises(ValueError, match="confidence"):
        replicate_interval(np.ones((2, 3)), confidence=1.5)


def test_a_personas_states_are_resampled_together():
    diffs_RxN = np.random.default_rng(2).normal(0.3, 0.5, (2, 20))
    thrice_RxN, personas_N = np.repeat(diffs_RxN, 3, axis=1), np.repeat([f"p{i}" for i in range(20)], 3)
    one = replicate_interval(diffs_RxN, samples=500)
    assert replicate_interval(thrice_RxN, samples=500, groups_N=personas_N) == pytest.approx(one)
    lo, hi = replicate_interval(thrice_RxN, samples=500)  # as 60 independent states: too narrow
    assert hi - lo < 0.8 * (one[1] - one[0])


def test_bad_inputs_are_named(tmp_path, capsys):
    a = _run(tmp_path / "a", np.ones(5))
    with pytest.raises(ValueError, match="at least 2 workdirs"):
        replicate_gains([a])
    with pytest.raises(FileNotFoundError, match="no evaluation here"):
        replicate_gains([a, tmp_path / "empty"])
    other = _run(tmp_path / "b", np.ones(5), weights={"profile": 0.5})
    with pytest.raises(ValueError, match="reward weights .* differ"):
        replicate_gains([a, other])
    logged = _run(tmp_path / "c", np.ones(5), weights={**WEIGHTS, "repetition": 0.0})  # logged, not rewarded
    assert replicate_gains([a, logged])["personalization"]["mean"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match=r"no items of \['ppopt_no_profile'\]"):
        replicate_gains([a, a], after="ppopt_no_profile")
    with pytest.raises(SystemExit, match="replicates: need at least 2"):
        main([str(a)])
    main([str(a), str(a)])
    assert "| **all 2 runs** (runs and states resampled) | +1.000 [+1.000, +1.000]" in capsys.readouterr().out
    main([str(a), str(a), "--before", "original"])
    assert "| +0.000 [+0.000, +0.000] | – | – |" in capsys.readouterr().out  # task unchanged; no profile, no R


def test_the_last_line_per_state_and_method_counts(tmp_path):
    """items.jsonl is appended to as an evaluation resumes; a superseded line must not count twice."""
    runs = [_run(tmp_path / f"r{k}", np.full(4, 1.0)) for k in range(2)]
    items = runs[0] / "report" / "items.jsonl"
    items.write_text(json.dumps(_item("ppopt_grpo", 0, 9.0)) + "\n" + items.read_text() + "\n")
    out = replicate_gains(runs)
    assert out["personalization"]["mean"] == pytest.approx(1.0) and out["runs"][0]["personalization"]["n"] == 4
