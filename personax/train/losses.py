"""Token-level losses shared by the trainers. Every loss returns (loss, metrics)."""
from __future__ import annotations

import jax
import jax.numpy as jnp


def token_logprobs(logits_BxTxV: jax.Array, targets_BxT: jax.Array) -> jax.Array:
    logp_BxTxV = jax.nn.log_softmax(logits_BxTxV.astype(jnp.float32), axis=-1)
    return jnp.take_along_axis(logp_BxTxV, targets_BxT[..., None], axis=-1)[..., 0]


def next_token_loss(logits_BxTxV: jax.Array, tokens_BxT: jax.Array, loss_mask_BxT: jax.Array):
    """Mean cross-entropy of tokens[t+1] given tokens[..t] over positions where loss_mask[t+1] is set
    (completion-only training sets it on the completion tokens alone)."""
    logp_BxT1 = token_logprobs(logits_BxTxV[:, :-1], tokens_BxT[:, 1:])
    mask_BxT1 = loss_mask_BxT[:, 1:].astype(jnp.float32)
    n_tokens = jnp.maximum(mask_BxT1.sum(), 1.0)
    loss = -(logp_BxT1 * mask_BxT1).sum() / n_tokens
    return loss, {"loss": loss, "tokens": mask_BxT1.sum(), "ppl": jnp.exp(loss)}
