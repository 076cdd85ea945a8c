"""Per-token log-probabilities shared by SFT, GRPO and `personax nll`."""
from __future__ import annotations

import jax
import jax.numpy as jnp


def token_logprobs(logits_BxTxV: jax.Array, targets_BxT: jax.Array) -> jax.Array:
    logp_BxTxV = jax.nn.log_softmax(logits_BxTxV.astype(jnp.float32), axis=-1)
    return jnp.take_along_axis(logp_BxTxV, targets_BxT[..., None], axis=-1)[..., 0]

