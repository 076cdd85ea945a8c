"""Bradley–Terry loss: −log σ(r_chosen − r_rejected), mean over the weighted pairs of a batch."""
from __future__ import annotations

import jax
import jax.numpy as jnp


def bt_terms(r_chosen_B: jax.Array, r_rejected_B: jax.Array, weight_B: jax.Array, center_coef: float = 0.0
             ) -> tuple[jax.Array, dict[str, jax.Array]]:
    """(objective, metrics). Rows of weight 0 (padding) count for nothing. `center_coef` adds
    coef·mean(r²): BT fixes only differences, and a reward read through a sigmoid needs them near 0."""
    w_B = weight_B.astype(jnp.float32)
    n = jnp.maximum(w_B.sum(), 1.0)
    margin_B = r_chosen_B - r_rejected_B
    bt = (w_B * jax.nn.softplus(-margin_B)).sum() / n  # softplus(−m) = −log σ(m), stable for any m
    center = (w_B * (r_chosen_B ** 2 + r_rejected_B ** 2) / 2).sum() / n
    metrics = {"loss": bt, "accuracy": (w_B * (margin_B > 0)).sum() / n, "margin": (w_B * margin_B).sum() / n,
               "reward_chosen": (w_B * r_chosen_B).sum() / n, "reward_rejected": (w_B * r_rejected_B).sum() / n,
               "pairs": w_B.sum()}
    return bt + center_coef * center, metrics


def bt_loss_fn(center_coef: float):
    """`loss_fn(model, batch) -> (objective, metrics)` for `make_train_step`; the batch holds
    chosen/rejected `tokens`, `valid` (each N x T) and `weight` (N). Both sides go through one forward."""

    def loss_fn(model, batch):
        tokens_2NxT = jnp.concatenate([batch["chosen_tokens"], batch["rejected_tokens"]])
        valid_2NxT = jnp.concatenate([batch["chosen_valid"], batch["rejected_valid"]]).astype(bool)
        r_2N = model.score(tokens_2NxT, valid_2NxT)
        r_chosen_N, r_rejected_N = jnp.split(r_2N, 2)
        return bt_terms(r_chosen_N, r_rejected_N, batch["weight"], center_coef)

    return loss_fn
