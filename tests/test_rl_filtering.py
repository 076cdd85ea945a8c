"""Rollout filtering rules, the failure-rate abort, and filtering → advantages → loss end to end."""
import jax.numpy as jnp
import numpy as np
import pytest

from personax.rl.advantages import compute_advantages
from personax.rl.filtering import (FailureRateTracker, TooManyFailuresError, drop_rows, penalize_truncated,
                                   valid_rollouts)
from personax.rl.loss import LossConfig, policy_loss


def test_groups_below_two_valid_members_are_dropped_whole():
    ok = np.array([1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0], bool)  # G=4: 4, 1, 2, 0 valid
    valid, metrics = valid_rollouts(ok, 4)
    assert valid.tolist() == [1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0]
    assert metrics == {"rollout_failure_rate": 9 / 16, "dropped_group_frac": 0.5, "valid_rollout_frac": 6 / 16}
    assert valid_rollouts(ok, 4, min_valid_per_group=1)[0].tolist() == ok.tolist()


def test_truncated_completions_are_dropped_only_when_asked():
    ok = np.array([1, 1, 1, 1, 1, 1, 1, 0], bool)  # G=4
    stopped = np.array([1, 0, 1, 1, 0, 0, 1, 1], bool)  # group 2 keeps one: dropped whole
    valid, metrics = valid_rollouts(ok, 4, stopped_N=stopped)
    assert valid.tolist() == [1, 0, 1, 1, 0, 0, 0, 0]
    assert metrics == {"rollout_failure_rate": 1 / 8, "dropped_group_frac": 0.5, "valid_rollout_frac": 3 / 8,
                       "truncated_dropped_frac": 3 / 8}
    assert valid_rollouts(ok, 4)[0].tolist() == ok.tolist()  # without stopped flags, truncation is kept
    with pytest.raises(ValueError, match=r"stopped flags have shape \(4,\), ok flags \(8,\)"):
        valid_rollouts(ok, 4, stopped_N=np.ones(4, bool))


def test_truncated_completions_can_be_paid_a_fixed_reward():
    R = np.array([0.4, 0.7, np.nan, 0.2])
    stopped = np.array([1, 0, 0, 1], bool)
    penalized, metrics = penalize_truncated(R, stopped, -0.5)
    np.testing.assert_array_equal(penalized, [0.4, -0.5, np.nan, 0.2])  # a failed call stays NaN: dropped
    assert metrics == {"truncated_penalized_frac": 0.25}
    with pytest.raises(ValueError, match=r"rewards have shape \(4,\), stopped flags \(3,\)"):
        penalize_truncated(R, stopped[:3], 0.0)


def test_filtering_errors():
    with pytest.raises(ValueError, match="6 rollouts do not split into groups of G=4"):
        valid_rollouts(np.ones(6, bool), 4)
    with pytest.raises(ValueError, match="1-D bool"):
        valid_rollouts(np.ones(8), 4)
    with pytest.raises(ValueError, match=r"min_valid_per_group must be in \[1, G=4\]"):
        valid_rollouts(np.ones(8, bool), 4, min_valid_per_group=5)
    with pytest.raises(ValueError, match="mask has 2 rows but valid has 3"):
        drop_rows(np.ones((2, 3)), np.ones(3, bool))


def test_failure_tracker_aborts_over_the_window_only():
    t = FailureRateTracker(max_rate=0.8, window=10, min_rollouts=5)
    assert t.update([True] * 4) == 1.0  # too few rollouts to judge
    with pytest.raises(TooManyFailuresError, match=r"5 of the last 5 rollouts failed .*rate 1.00 > max 0.80"):
        t.update([True])
    t = FailureRateTracker(max_rate=0.8, window=10, min_rollouts=5)
    t.update([False] * 2 + [True] * 8)
    assert t.rate == 0.8  # at the threshold is not above it
    t.update([False] * 6)  # the window slides: old failures are forgotten
    assert t.rate == pytest.approx(0.4)
    restored = FailureRateTracker(max_rate=0.8, window=10, min_rollouts=5, recent=t.state())
    assert restored.rate == t.rate and len(restored.recent) == 10
    with pytest.raises(TooManyFailuresError):
        restored.update([True] * 9)
    with pytest.raises(ValueError, match="min_rollouts"):
        FailureRateTracker(window=4, min_rollouts=8)


def test_filtered_batch_equals_the_batch_without_the_dropped_rows():
    """Dropping rows through masks gives the same loss as never having had them."""
    rng = np.random.default_rng(0)
    g, t_len = 4, 5
    rewards = rng.uniform(0, 1, 3 * g).astype(np.float32)
    ok = np.ones(3 * g, bool)
    ok[[1, 4, 5, 6]] = False  # group 1 keeps one member and goes; group 0 keeps three
    rewards[~ok] = np.nan
    lp = rng.uniform(-2, -0.1, (3 * g, t_len)).astype(np.float32)
    old = lp + rng.normal(0, 0.1, lp.shape).astype(np.float32)
    mask = np.ones((3 * g, t_len), bool)
    mask[:, 3:] = rng.uniform(size=(3 * g, 2)) < 0.5

    cfg = LossConfig(beta=0.0)
    valid, _ = valid_rollouts(ok, g)
    adv, _ = compute_advantages(jnp.asarray(rewards), g, valid_N=jnp.asarray(valid))
    loss, metrics = policy_loss(jnp.asarray(lp), jnp.asarray(old), None, adv, drop_rows(jnp.asarray(mask), valid), cfg)

    keep = np.flatnonzero(valid)
    assert keep.tolist() == [0, 2, 3, 8, 9, 10, 11]
    ref_adv = np.concatenate([  # group statistics over the survivors, by hand
        (rewards[k] - rewards[k].mean()) / (rewards[k].std() + 1e-8) for k in ([0, 2, 3], [8, 9, 10, 11])])
    np.testing.assert_allclose(np.asarray(adv)[keep], ref_adv, rtol=1e-5)
    compact_loss, compact_metrics = policy_loss(jnp.asarray(lp[keep]), jnp.asarray(old[keep]), None,
                                                jnp.asarray(ref_adv, jnp.float32), jnp.asarray(mask[keep]), cfg)
    assert float(loss) == pytest.approx(float(compact_loss), rel=1e-5)
    assert float(metrics["tokens"]) == float(compact_metrics["tokens"]) and float(metrics["sequences"]) == 7
