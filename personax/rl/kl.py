"""Per-token KL(π_θ ‖ π_ref) estimators from the sampled tokens' log-probs (Schulman's k1/k2/k3)."""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from personax.registry import Registry

KLEstimator = Callable[[jax.Array, jax.Array], jax.Array]
KL_ESTIMATORS: Registry[KLEstimator] = Registry("KL estimator")

# exp() of a log-ratio past this is a policy that has all but ruled out a token it sampled; the
# bound keeps such a token finite (and its gradient zero) instead of turning the whole loss into inf.
MAX_LOG_RATIO = 20.0


@KL_ESTIMATORS.register("k1")
def k1(logp_NxT: jax.Array, ref_logp_NxT: jax.Array) -> jax.Array:
    return logp_NxT - ref_logp_NxT


@KL_ESTIMATORS.register("k2")
def k2(logp_NxT: jax.Array, ref_logp_NxT: jax.Array) -> jax.Array:
    return 0.5 * jnp.square(logp_NxT - ref_logp_NxT)


@KL_ESTIMATORS.register("k3")
def k3(logp_NxT: jax.Array, ref_logp_NxT: jax.Array) -> jax.Array:
    d_NxT = jnp.clip(ref_logp_NxT - logp_NxT, -MAX_LOG_RATIO, MAX_LOG_RATIO)
    return jnp.exp(d_NxT) - d_NxT - 1.0


def kl_per_token(name: str, logp_NxT: jax.Array, ref_logp_NxT: jax.Array) -> jax.Array:
    return KL_ESTIMATORS.get(name)(logp_NxT, ref_logp_NxT)
