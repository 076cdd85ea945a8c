"""Advantages against a direct NumPy computation of SPEC §2.3 (population std, ddof 0)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from personax.rl.advantages import ADVANTAGES, compute_advantages

G = 8  # the paper's G; float32 mean of eight 0.7s is not 0.7, so the zero is earned


def numpy_advantages(rewards, valid, group_size, estimator, eps=1e-8):
    out = np.zeros(len(rewards))
    for start in range(0, len(rewards), group_size):
        idx = [i for i in range(start, start + group_size) if valid[i]]
        r = np.array([rewards[i] for i in idx], np.float64)
        if len(r) == 0 or np.all(r == r[0]):
            continue
        for k, i in enumerate(idx):
            if estimator == "group_norm":
                out[i] = (r[k] - r.mean()) / (r.std(ddof=0) + eps)
            elif estimator == "group_center":
                out[i] = r[k] - r.mean()
            elif estimator == "rloo":
                out[i] = r[k] - np.delete(r, k).mean()
    return out


@pytest.fixture
def rewards():
    rng = np.random.default_rng(0)
    r = rng.uniform(0, 1, 3 * G).astype(np.float32)
    r[G:2 * G] = np.float32(0.7)  # a unanimous group; 0.7 is not exact in binary
    return r


@pytest.mark.parametrize("estimator", ["group_norm", "group_center", "rloo"])
def test_matches_numpy(rewards, estimator):
    adv, metrics = compute_advantages(jnp.asarray(rewards), G, estimator)
    want = numpy_advantages(rewards, np.ones(len(rewards), bool), G, estimator)
    np.testing.assert_allclose(np.asarray(adv), want, rtol=1e-5, atol=1e-6)
    assert metrics["advantage_max"] == pytest.approx(want.max(), rel=1e-5)
    assert metrics["advantage_min"] == pytest.approx(want.min(), rel=1e-5)
    assert metrics["advantage_std"] == pytest.approx(want.std(), rel=1e-5)
    assert metrics["reward_mean"] == pytest.approx(rewards.mean(), rel=1e-6)
    assert float(metrics["zero_variance_group_frac"]) == pytest.approx(1 / 3)


def test_group_norm_is_unit_scale_and_unanimous_group_is_exactly_zero(rewards):
    adv = np.asarray(compute_advantages(jnp.asarray(rewards), G)[0]).reshape(3, G)
    assert (adv[1] == 0.0).all()
    np.testing.assert_allclose(adv[[0, 2]].std(-1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(adv[[0, 2]].mean(-1), 0.0, atol=1e-6)


def test_binary_rewards_one_winner():
    adv = np.asarray(compute_advantages(jnp.array([1.0, 0.0, 0.0, 0.0]), 4)[0])
    # mean 0.25, population std sqrt(3)/4
    np.testing.assert_allclose(adv, [3 / np.sqrt(3), -1 / np.sqrt(3), -1 / np.sqrt(3), -1 / np.sqrt(3)], rtol=1e-5)


@pytest.mark.parametrize("estimator", ["group_norm", "group_center", "rloo"])
def test_invalid_rows_left_out_even_when_nan(rewards, estimator):
    valid = np.ones(len(rewards), bool)
    valid[[1, 2 * G, 2 * G + 3, 2 * G + 5]] = False
    r = rewards.copy()
    r[~valid] = np.nan  # a failed reward call
    adv, metrics = compute_advantages(jnp.asarray(r), G, estimator, valid_N=jnp.asarray(valid))
    adv = np.asarray(adv)
    assert np.isfinite(adv).all() and (adv[~valid] == 0).all()
    np.testing.assert_allclose(adv, numpy_advantages(r, valid, G, estimator), rtol=1e-5, atol=1e-6)
    assert float(metrics["reward_mean"]) == pytest.approx(rewards[valid].mean(), rel=1e-6)
    assert float(metrics["valid_frac"]) == pytest.approx(valid.mean())


def test_a_single_valid_member_gets_zero():
    valid = jnp.array([True, False, False, False])
    adv, metrics = compute_advantages(jnp.array([1.0, 0.0, 0.5, 0.2]), 4, valid_N=valid)
    assert (np.asarray(adv) == 0).all()
    assert float(metrics["zero_variance_group_frac"]) == 1.0


def test_jit_with_estimator_static(rewards):
    fn = jax.jit(compute_advantages, static_argnums=(1, 2))
    np.testing.assert_allclose(fn(jnp.asarray(rewards), G, "rloo")[0],
                               compute_advantages(jnp.asarray(rewards), G, "rloo")[0], rtol=1e-6)


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="10 rewards do not split into groups of G=4"):
        compute_advantages(jnp.zeros(10), 4)
    with pytest.raises(ValueError, match=r"shape \[N\]"):
        compute_advantages(jnp.zeros((2, 4)), 4)
    with pytest.raises(ValueError, match="valid mask shape"):
        compute_advantages(jnp.zeros(8), 4, valid_N=jnp.ones(4, bool))
    with pytest.raises(KeyError, match="unknown advantage estimator 'nope'; registered: group_center, group_norm, rloo"):
        compute_advantages(jnp.zeros(8), 4, "nope")
    assert ADVANTAGES.names() == ["group_center", "group_norm", "rloo"]
