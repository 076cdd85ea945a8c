"""A generic jit-able train step over (graphdef, state) pytrees.

The model is split three ways: the trainable leaves (LoRA adapters, or all `nnx.Param`), the
dropout RNG state (threaded through, so runs are a function of the seed), and everything else
(frozen). Only the trainable part is differentiated and updated.
"""
from __future__ import annotations

from typing import Any, Callable

import jax
import optax
from flax import nnx

from personax.models.layers import LoRAParam
from personax.models.lora import has_lora


def trainable_filter(model: nnx.Module):
    return LoRAParam if has_lora(model) else nnx.Param


def split_for_training(model: nnx.Module):
    """-> graphdef, trainable, rngs, frozen."""
    return nnx.split(model, trainable_filter(model), nnx.RngState, ...)


def make_train_step(graphdef, tx: optax.GradientTransformation,
                    loss_fn: Callable[[nnx.Module, Any], tuple[jax.Array, dict]]):
    """`loss_fn(model, batch) -> (loss, metrics)`; returns
    step(trainable, rngs, frozen, opt_state, batch) -> (trainable, rngs, opt_state, metrics)."""

    def step(trainable, rngs, frozen, opt_state, batch):
        def objective(trainable):
            model = nnx.merge(graphdef, trainable, rngs, frozen)
            loss, metrics = loss_fn(model, batch)
            return loss, (metrics, nnx.state(model, nnx.RngState))

        (_, (metrics, new_rngs)), grads = jax.value_and_grad(objective, has_aux=True)(trainable)
        updates, opt_state = tx.update(grads, opt_state, trainable)
        trainable = optax.apply_updates(trainable, updates)
        metrics = {**metrics, "grad_norm": optax.tree.norm(grads)}
        return trainable, new_rngs, opt_state, metrics

    return step
