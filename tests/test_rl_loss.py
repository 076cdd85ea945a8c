"""GRPO loss and KL against a direct, loop-by-loop NumPy computation of the SPEC §2.3 formulas."""
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from personax.rl.aggregation import aggregation_count
from personax.rl.kl import KL_ESTIMATORS, kl_per_token
from personax.rl.loss import LossConfig, policy_loss

ESTIMATORS = ["k1", "k2", "k3"]
AGGREGATIONS = ["token_mean", "seq_mean_token_mean", "seq_mean_token_sum_norm"]
CLIPS = [(0.2, 0.2), (0.1, 0.28)]
NORM_LEN = 9


def numpy_kl(est, lp, lr):
    if est == "k1":
        return lp - lr
    if est == "k2":
        return 0.5 * (lp - lr) ** 2
    return np.exp(lr - lp) - (lr - lp) - 1


def numpy_loss(lp, old, ref, adv, mask, lo, hi, beta, est, agg):
    """Returns (loss, d loss / d lp, clip_low_frac, clip_high_frac)."""
    n, t_len = lp.shape
    per, dper = np.zeros((n, t_len)), np.zeros((n, t_len))
    clip_lo = clip_hi = 0
    for i, t in itertools.product(range(n), range(t_len)):
        if not mask[i, t]:
            continue
        rho, a = np.exp(lp[i, t] - old[i, t]), (adv[i] if adv.ndim == 1 else adv[i, t])
        unclipped, clipped = rho * a, np.clip(rho, 1 - lo, 1 + hi) * a
        per[i, t] = -min(unclipped, clipped)
        dper[i, t] = -rho * a if unclipped <= clipped else 0.0
        clip_lo += a < 0 and rho < 1 - lo
        clip_hi += a > 0 and rho > 1 + hi
        if beta:
            per[i, t] += beta * numpy_kl(est, lp[i, t], ref[i, t])
            d = ref[i, t] - lp[i, t]
            dper[i, t] += beta * {"k1": 1.0, "k2": lp[i, t] - ref[i, t], "k3": 1 - np.exp(d)}[est]
    n_tok = mask.sum(1)
    seqs = [i for i in range(n) if n_tok[i] > 0]
    if agg == "token_mean":
        w = np.ones(n) / mask.sum()
    elif agg == "seq_mean_token_mean":
        w = np.array([1 / (n_tok[i] * len(seqs)) if n_tok[i] else 0 for i in range(n)])
    else:
        w = np.ones(n) / (NORM_LEN * len(seqs))
    loss = sum(w[i] * per[i].sum() for i in range(n))
    return loss, dper * w[:, None], clip_lo / mask.sum(), clip_hi / mask.sum()


def make_inputs(seed=0, n=6, t_len=8, spread=0.3):
    rng = np.random.default_rng(seed)
    lp = rng.uniform(-3, -0.05, (n, t_len))
    old = lp + rng.normal(0, spread, (n, t_len))  # μ > 1: the policy has moved since sampling
    ref = lp + rng.normal(0, spread, (n, t_len))
    adv = rng.normal(0, 1, n)
    lengths = np.array([t_len, 3, 0, 5, 1, 7])[:n]  # row 2 is a filtered rollout
    mask = np.arange(t_len)[None, :] < lengths[:, None]
    for a in (lp, old, ref):
        a[~mask] = np.nan  # padding carries garbage; it must not leak
    return lp, old, ref, adv, mask


def run(cfg, lp, old, ref, adv, mask, count=None):
    args = [None if x is None else jnp.asarray(x, jnp.float32) for x in (old, ref, adv)] + [jnp.asarray(mask)]

    def f(lp_):
        return policy_loss(lp_, args[0], args[1], args[2], args[3], cfg, count)

    (loss, metrics), grad = jax.value_and_grad(f, has_aux=True)(jnp.asarray(lp, jnp.float32))
    return float(loss), metrics, np.asarray(grad)


@pytest.mark.parametrize("est", ESTIMATORS)
def test_kl_estimators_match_numpy(est):
    rng = np.random.default_rng(1)
    lp, lr = rng.uniform(-4, 0, (3, 5)), rng.uniform(-4, 0, (3, 5))
    got = kl_per_token(est, jnp.asarray(lp, jnp.float32), jnp.asarray(lr, jnp.float32))
    np.testing.assert_allclose(np.asarray(got), numpy_kl(est, lp, lr), rtol=1e-5, atol=1e-6)
    assert np.asarray(kl_per_token(est, jnp.asarray(lp), jnp.asarray(lp))).max() == 0.0


def test_k3_is_nonnegative_and_finite_at_extremes():
    lp = jnp.array([[-200.0, 0.0, -1.0]])
    lr = jnp.array([[0.0, -200.0, -1.0]])
    got = np.asarray(kl_per_token("k3", lp, lr))
    assert np.isfinite(got).all() and (got >= 0).all() and got[0, 2] == 0
    assert KL_ESTIMATORS.names() == ESTIMATORS


@pytest.mark.parametrize("est,agg,clip", list(itertools.product(ESTIMATORS, AGGREGATIONS, CLIPS)))
def test_loss_and_gradient_match_numpy(est, agg, clip):
    lp, old, ref, adv, mask = make_inputs()
    cfg = LossConfig(clip_eps_low=clip[0], clip_eps_high=clip[1], beta=0.1, kl_estimator=est,
                     aggregation=agg, norm_length=NORM_LEN)
    loss, metrics, grad = run(cfg, lp, old, ref, adv, mask)
    want, dwant, lo_frac, hi_frac = numpy_loss(lp, old, ref, adv, mask, *clip, 0.1, est, agg)
    assert loss == pytest.approx(want, rel=1e-5)
    np.testing.assert_allclose(grad, dwant, rtol=1e-4, atol=1e-7)
    assert np.isfinite(grad).all() and (grad[~mask] == 0).all() and np.abs(grad).max() > 0
    assert float(metrics["clip_frac_low"]) == pytest.approx(lo_frac)
    assert float(metrics["clip_frac_high"]) == pytest.approx(hi_frac)
    assert lo_frac + hi_frac > 0  # the fixture's policy drift is large enough to clip somewhere
    m = mask.astype(bool)
    assert float(metrics["kl_mean"]) == pytest.approx(numpy_kl(est, lp[m], ref[m]).mean(), rel=1e-5)
    assert float(metrics["ratio_max"]) == pytest.approx(np.exp(lp - old)[m].max(), rel=1e-5)
    assert float(metrics["ratio_mean"]) == pytest.approx(np.exp(lp - old)[m].mean(), rel=1e-5)
    assert float(metrics["tokens"]) == m.sum() and float(metrics["sequences"]) == 5
    pg_only = numpy_loss(lp, old, ref, adv, mask, *clip, 0.0, est, agg)[0]
    assert float(metrics["pg_loss"]) == pytest.approx(pg_only, rel=1e-5)


@pytest.mark.parametrize("agg", AGGREGATIONS)
def test_per_token_advantages_match_numpy_and_a_constant_row_equals_one_per_row(agg):
    """Segment credit hands the loss one advantage a token; a row whose tokens share one value is the
    [N] case exactly."""
    lp, old, ref, adv, mask = make_inputs(seed=3)
    cfg = LossConfig(beta=0.1, aggregation=agg, norm_length=NORM_LEN)
    adv_NxT = np.random.default_rng(4).normal(0, 1, lp.shape)
    adv_NxT[~mask] = np.nan  # padding positions carry anything
    loss, metrics, grad = run(cfg, lp, old, ref, adv_NxT, mask)
    want, dwant, lo_frac, hi_frac = numpy_loss(lp, old, ref, adv_NxT, mask, 0.2, 0.2, 0.1, "k3", agg)
    assert loss == pytest.approx(want, rel=1e-5)
    np.testing.assert_allclose(grad, dwant, rtol=1e-4, atol=1e-7)
    assert float(metrics["clip_frac_low"]) == pytest.approx(lo_frac)
    assert float(metrics["clip_frac_high"]) == pytest.approx(hi_frac)
    assert float(metrics["advantage_token_mean"]) == pytest.approx(adv_NxT[mask].mean(), rel=1e-5)
    per_row = run(cfg, lp, old, ref, adv, mask)
    same = run(cfg, lp, old, ref, np.repeat(adv[:, None], lp.shape[1], 1), mask)
    assert same[0] == pytest.approx(per_row[0], rel=1e-6)
    np.testing.assert_allclose(same[2], per_row[2], rtol=1e-6)


def test_asymmetric_clip_bounds_are_the_right_way_round():
    adv = np.array([1.0, -1.0])
    mask = np.ones((2, 2), bool)
    old = np.zeros((2, 2))
    lp = np.log(np.array([[1.25, 1.35], [0.85, 0.75]]))
    cfg = LossConfig(clip_eps_low=0.2, clip_eps_high=0.3, beta=0.0)
    _, metrics, grad = run(cfg, lp, old, None, adv, mask)
    # high bound 1.3: 1.25 still learns, 1.35 is clipped; low bound 0.8: 0.85 learns, 0.75 is clipped
    assert (grad[0, 0] != 0) and grad[0, 1] == 0 and grad[1, 0] != 0 and grad[1, 1] == 0
    assert float(metrics["clip_frac_high"]) == 0.25 and float(metrics["clip_frac_low"]) == 0.25


def test_clipping_stops_repeated_updates_against_stored_old_logprobs():
    """μ > 1: updates against a fixed π_old push ρ up to 1+ε and no further."""
    rng = np.random.default_rng(3)
    old = jnp.asarray(rng.uniform(-3, -1, (2, 6)), jnp.float32)
    adv, mask = jnp.array([1.0, -1.0]), jnp.ones((2, 6), bool)

    def final_ratio(eps_low, eps_high):
        cfg = LossConfig(clip_eps_low=eps_low, clip_eps_high=eps_high, beta=0.0, aggregation="token_mean")
        grad_fn = jax.jit(jax.grad(lambda lp: policy_loss(lp, old, None, adv, mask, cfg)[0]))
        lp, clip_fracs = old, []
        for _ in range(30):
            clip_fracs.append(policy_loss(lp, old, None, adv, mask, cfg)[1])
            lp = lp - 2.0 * grad_fn(lp)
        return np.exp(np.asarray(lp - old)), clip_fracs

    ratio, history = final_ratio(0.2, 0.2)
    assert float(history[0]["clip_frac_high"]) == 0 and float(history[0]["clip_frac_low"]) == 0
    assert float(history[-1]["clip_frac_high"]) == 0.5 and float(history[-1]["clip_frac_low"]) == 0.5
    assert (ratio[0] > 1.2).all() and (ratio[0] < 1.5).all()  # stopped just past the bound
    assert (ratio[1] < 0.8).all() and (ratio[1] > 0.5).all()
    unclipped, _ = final_ratio(0.99, 100.0)
    assert (unclipped[0] > 3).all()  # without the clip the same updates run away


def test_beta_zero_ignores_reference():
    lp, old, ref, adv, mask = make_inputs(seed=2)
    cfg = LossConfig(beta=0.0)
    loss_none, metrics_none, grad_none = run(cfg, lp, old, None, adv, mask)
    loss_ref, metrics_ref, grad_ref = run(cfg, lp, old, ref + 5.0, adv, mask)
    assert loss_none == loss_ref and (grad_none == grad_ref).all()
    assert "kl_mean" not in metrics_none and float(metrics_ref["kl_mean"]) > 0  # still monitored
    with pytest.raises(ValueError, match="beta=0.1 needs reference log-probs"):
        run(LossConfig(beta=0.1), lp, old, None, adv, mask)


def test_equal_policies_give_zero_kl_and_ratio_one():
    lp, _, _, adv, mask = make_inputs(seed=4)
    loss, metrics, _ = run(LossConfig(beta=0.5), lp, lp, lp, adv, mask)
    assert float(metrics["kl_mean"]) == 0 and float(metrics["ratio_max"]) == 1.0
    assert float(metrics["clip_frac_low"]) == float(metrics["clip_frac_high"]) == 0


@pytest.mark.parametrize("agg", AGGREGATIONS)
def test_micro_batches_with_the_mini_batch_count_add_up(agg):
    lp, old, ref, adv, mask = make_inputs(seed=5)
    cfg = LossConfig(aggregation=agg, norm_length=NORM_LEN)
    full_loss, _, full_grad = run(cfg, lp, old, ref, adv, mask)
    count = aggregation_count(agg, jnp.asarray(mask))
    parts = [run(cfg, lp[s], old[s], ref[s], adv[s], mask[s], count) for s in (slice(0, 2), slice(2, 6))]
    assert sum(p[0] for p in parts) == pytest.approx(full_loss, rel=1e-5)
    np.testing.assert_allclose(np.concatenate([p[2] for p in parts]), full_grad, rtol=1e-5, atol=1e-8)


def test_jit_with_static_config_matches_eager():
    lp, old, ref, adv, mask = make_inputs(seed=6)
    cfg = LossConfig(kl_estimator="k2", aggregation="token_mean")
    args = [jnp.asarray(x, jnp.float32) for x in (lp, old, ref, adv)] + [jnp.asarray(mask)]
    jitted = jax.jit(policy_loss, static_argnames="cfg")(*args, cfg=cfg)
    eager = policy_loss(*args, cfg)
    assert float(jitted[0]) == pytest.approx(float(eager[0]), rel=1e-6)
    assert set(jitted[1]) == set(eager[1])


def test_config_and_shape_errors():
    with pytest.raises(KeyError, match="unknown KL estimator 'k4'; registered: k1, k2, k3"):
        LossConfig(kl_estimator="k4")
    with pytest.raises(KeyError, match="unknown loss aggregation 'sum'"):
        LossConfig(aggregation="sum")
    with pytest.raises(ValueError, match="clip_eps_low must be in"):
        LossConfig(clip_eps_low=1.0)
    with pytest.raises(ValueError, match="beta"):
        LossConfig(beta=-0.1)
    z = jnp.zeros((2, 3))
    with pytest.raises(ValueError, match=r"advantages shape \(3,\) must be \[N\] = \[2\] or \[N, T\] = \[2, 3\]"):
        policy_loss(z, z, z, jnp.zeros(3), z > -1, LossConfig())
    with pytest.raises(ValueError, match=r"advantages shape \(2, 4\) must be"):
        policy_loss(z, z, z, jnp.zeros((2, 4)), z > -1, LossConfig())
    with pytest.raises(ValueError, match="must be the same"):
        policy_loss(z, jnp.zeros((2, 4)), z, jnp.zeros(2), z > -1, LossConfig())


def test_bf16_log_probs_are_computed_in_f32():
    lp, old, ref, adv, mask = make_inputs(seed=7)
    cfg = LossConfig()
    want = run(cfg, lp, old, ref, adv, mask)[0]
    args = [jnp.asarray(x, jnp.bfloat16) for x in (old, ref, adv)] + [jnp.asarray(mask)]
    loss_fn = lambda lp_: policy_loss(lp_, *args, cfg)[0]  # noqa: E731
    loss, grad = jax.value_and_grad(loss_fn)(jnp.asarray(lp, jnp.bfloat16))
    assert loss.dtype == jnp.float32 and grad.dtype == jnp.bfloat16
    assert float(loss) == pytest.approx(want, rel=0.05, abs=0.02) and np.isfinite(np.asarray(grad, np.float32)).all()


def test_registry_refuses_a_second_variant_under_one_name():
    with pytest.raises(ValueError, match="KL estimator 'k3' is already registered"):
        KL_ESTIMATORS.register("k3")(lambda a, b: a)
