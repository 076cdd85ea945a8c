"""The clipped GRPO policy loss with a KL penalty (SPEC §2.3); jit it with `cfg` static."""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from personax.rl.aggregation import AGGREGATIONS, aggregate
from personax.rl.kl import KL_ESTIMATORS, MAX_LOG_RATIO, kl_per_token


@dataclasses.dataclass(frozen=True)
class LossConfig:
    clip_eps_low: float = 0.2  # ρ is clipped to [1 − low, 1 + high]
    clip_eps_high: float = 0.2
    beta: float = 0.1  # KL weight; 0 means no reference log-probs are needed
    kl_estimator: str = "k3"
    aggregation: str = "seq_mean_token_mean"
    norm_length: int = 512  # the fixed length of seq_mean_token_sum_norm (the sampling budget)

    def __post_init__(self):
        if not 0 <= self.clip_eps_low < 1:
            raise ValueError(f"clip_eps_low must be in [0, 1), got {self.clip_eps_low}")
        if self.clip_eps_high < 0:
            raise ValueError(f"clip_eps_high must be >= 0, got {self.clip_eps_high}")
        if self.beta < 0:
            raise ValueError(f"beta (KL weight) must be >= 0, got {self.beta}")
        if self.norm_length < 1:
            raise ValueError(f"norm_length must be >= 1, got {self.norm_length}")
        KL_ESTIMATORS.get(self.kl_estimator)
        AGGREGATIONS.get(self.aggregation)


def _token_mean(x_NxT, mask_NxT, n_tokens):
    return (x_NxT * mask_NxT).sum() / jnp.maximum(n_tokens, 1.0)


def policy_loss(logp_NxT: jax.Array, old_logp_NxT: jax.Array, ref_logp_NxT: jax.Array | None,
                advantages: jax.Array, mask_NxT: jax.Array, cfg: LossConfig,
                count: jax.Array | None = None) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Log-probs are those of the completion tokens (row i, position t); `mask_NxT` marks them.
    `advantages`: one per completion ([N], every token of row i gets A_i) or one per token ([N, T],
    segment credit: `personax.rl.segments`).
    `count`: the aggregation denominator of the whole mini-batch when this is one micro-batch of it.
    Only `logp_NxT` is differentiated."""
    if logp_NxT.ndim != 2 or old_logp_NxT.shape != logp_NxT.shape or mask_NxT.shape != logp_NxT.shape:
        raise ValueError(f"logp {logp_NxT.shape}, old_logp {old_logp_NxT.shape} and mask {mask_NxT.shape} "
                         "must be the same [N, T] shape")
    if advantages.shape not in (logp_NxT.shape[:1], logp_NxT.shape):
        raise ValueError(f"advantages shape {advantages.shape} must be [N] = [{logp_NxT.shape[0]}] "
                         f"or [N, T] = {list(logp_NxT.shape)}")
    if cfg.beta > 0 and ref_logp_NxT is None:
        raise ValueError(f"beta={cfg.beta} needs reference log-probs; pass ref_logp_NxT or set beta=0")
    if ref_logp_NxT is not None and ref_logp_NxT.shape != logp_NxT.shape:
        raise ValueError(f"ref_logp shape {ref_logp_NxT.shape} does not match logp shape {logp_NxT.shape}")

    valid_NxT = mask_NxT.astype(bool)
    m_NxT = valid_NxT.astype(jnp.float32)
    n_tokens = m_NxT.sum()
    # Padding may hold anything (garbage, -inf); zero it before exp so no NaN reaches the gradient.
    logp_NxT = jnp.where(valid_NxT, logp_NxT.astype(jnp.float32), 0.0)
    old_NxT = jnp.where(valid_NxT, jax.lax.stop_gradient(old_logp_NxT).astype(jnp.float32), 0.0)
    adv_NxT = jax.lax.stop_gradient(advantages).astype(jnp.float32)
    adv_NxT = adv_NxT[:, None] if adv_NxT.ndim == 1 else jnp.where(valid_NxT, adv_NxT, 0.0)

    log_ratio_NxT = jnp.clip(logp_NxT - old_NxT, -MAX_LOG_RATIO, MAX_LOG_RATIO)
    ratio_NxT = jnp.exp(log_ratio_NxT)
    clipped_NxT = jnp.clip(ratio_NxT, 1.0 - cfg.clip_eps_low, 1.0 + cfg.clip_eps_high)
    pg_NxT = -jnp.minimum(ratio_NxT * adv_NxT, clipped_NxT * adv_NxT)

    per_token_NxT = pg_NxT
    metrics = {}
    if ref_logp_NxT is not None:
        ref_NxT = jnp.where(valid_NxT, jax.lax.stop_gradient(ref_logp_NxT).astype(jnp.float32), 0.0)
        kl_NxT = kl_per_token(cfg.kl_estimator, logp_NxT, ref_NxT)
        metrics["kl_mean"] = _token_mean(kl_NxT, m_NxT, n_tokens)
        if cfg.beta > 0:
            per_token_NxT = pg_NxT + cfg.beta * kl_NxT

    def agg(x_NxT):
        return aggregate(cfg.aggregation, x_NxT, m_NxT, cfg.norm_length, count)

    loss = agg(per_token_NxT)
    # Clipping acts (the gradient stops) only where the clipped term wins the min.
    clip_low_NxT = (adv_NxT < 0) & (ratio_NxT < 1.0 - cfg.clip_eps_low)
    clip_high_NxT = (adv_NxT > 0) & (ratio_NxT > 1.0 + cfg.clip_eps_high)
    any_token = n_tokens > 0
    metrics.update({
        "loss": loss,
        "pg_loss": agg(pg_NxT),
        "clip_frac_low": _token_mean(clip_low_NxT, m_NxT, n_tokens),
        "clip_frac_high": _token_mean(clip_high_NxT, m_NxT, n_tokens),
        "ratio_mean": _token_mean(ratio_NxT, m_NxT, n_tokens),
        "ratio_max": jnp.where(any_token, jnp.where(valid_NxT, ratio_NxT, -jnp.inf).max(), 0.0),
        "ratio_min": jnp.where(any_token, jnp.where(valid_NxT, ratio_NxT, jnp.inf).min(), 0.0),
        # k3 of π_old against π_θ: how far the μ updates have moved the policy.
        "approx_kl_old": _token_mean(jnp.exp(-log_ratio_NxT) + log_ratio_NxT - 1.0, m_NxT, n_tokens),
        # Token-weighted advantage: nonzero when long and short completions are rewarded differently.
        "advantage_token_mean": _token_mean(jnp.broadcast_to(adv_NxT, m_NxT.shape), m_NxT, n_tokens),
        "positive_advantage_token_frac": _token_mean(jnp.broadcast_to(adv_NxT > 0, m_NxT.shape), m_NxT, n_tokens),
        "tokens": n_tokens,
        "sequences": (m_NxT.sum(-1) > 0).sum().astype(jnp.float32),
    })
    return loss, metrics
