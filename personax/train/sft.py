"""Supervised cold start (SPEC §2.2): completion-only cross-entropy on PPOpt targets.

`make_sft_step` builds one jit-able optimizer step over a batch of `grad_accum` micro-batches:
gradients of the summed token NLL are accumulated with `lax.scan` and divided by the batch's
total completion tokens, so the update equals that of one big batch (accumulation that really
accumulates). Optimizer: Adam(β1, β2, ε), no weight decay, global-norm clip, linear warmup then
cosine decay to `end_lr`.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from flax import nnx

from personax.models.transformer import causal_mask
from personax.train.losses import token_logprobs


def sft_optimizer(c: ml_collections.ConfigDict) -> tuple[optax.GradientTransformation, optax.Schedule]:
    schedule = optax.warmup_cosine_decay_schedule(
        init_value=0.0, peak_value=c.peak_lr, warmup_steps=c.warmup_steps,
        decay_steps=max(c.steps, c.warmup_steps + 1), end_value=c.end_lr)
    tx = optax.chain(optax.clip_by_global_norm(c.grad_clip), optax.adam(schedule, b1=c.b1, b2=c.b2, eps=c.eps))
    return tx, schedule


def completion_nll_sum(model: nnx.Module, batch: dict, loss_positions: int = 0) -> tuple[jax.Array, jax.Array]:
    """(summed NLL of completion tokens, their count). `loss_mask` is 1 on the tokens to predict,
    so it is shifted together with the targets. With `loss_positions` K > 0 only the first K
    predicting positions of each row go through the vocabulary projection (a row must hold at most
    K completion tokens: `check_loss_positions`); 0 projects every position."""
    segments_BxT = batch["segment_ids"]
    h_BxTxD, _ = model.hidden(batch["tokens"], batch["positions"], causal_mask(segments_BxT > 0, segments_BxT))
    h_BxT1xD, targets_BxT1 = h_BxTxD[:, :-1], batch["tokens"][:, 1:]
    mask_BxT1 = batch["loss_mask"][:, 1:].astype(jnp.float32)
    if loss_positions:
        idx_BxK = jax.vmap(lambda m: jnp.nonzero(m, size=loss_positions, fill_value=0)[0])(mask_BxT1)
        h_BxT1xD = jnp.take_along_axis(h_BxT1xD, idx_BxK[..., None], axis=1)
        targets_BxT1 = jnp.take_along_axis(targets_BxT1, idx_BxK, axis=1)
        mask_BxT1 = (jnp.arange(loss_positions)[None] < mask_BxT1.sum(1, keepdims=True)).astype(jnp.float32)
    logp_BxT1 = token_logprobs(model.logits(h_BxT1xD), targets_BxT1)
    return -(logp_BxT1 * mask_BxT1).sum(), mask_BxT1.sum()


def check_loss_positions(loss_mask_BxT, loss_positions: int) -> None:
    """A row with more completion tokens than `sft.loss_positions` would lose some: refuse it."""
    if not loss_positions:
        return  # every position is projected: nothing to count on the step's path
    most = int(np.asarray(loss_mask_BxT)[:, 1:].sum(axis=1).max())
    if most > loss_positions:
        raise ValueError(f"sft.loss_positions={loss_positions} but a batch row has {most} completion tokens; "
                         f"raise it (or 0: every position)")


def _micro_batches(x_BxL: jax.Array, n: int) -> jax.Array:
    # Micro-batch a takes rows a, n+a, 2n+a, ...: each device keeps its own rows under data sharding.
    return x_BxL.reshape(x_BxL.shape[0] // n, n, *x_BxL.shape[1:]).swapaxes(0, 1)


def make_sft_step(graphdef, tx: optax.GradientTransformation, grad_accum: int, loss_positions: int = 0):
    """step(trainable, rngs, frozen, opt_state, batch) -> (trainable, rngs, opt_state, metrics)."""

    def step(trainable, rngs, frozen, opt_state, batch):
        rows = batch["tokens"].shape[0]
        if rows % grad_accum:
            raise ValueError(f"batch of {rows} rows does not split into grad_accum={grad_accum} micro-batches")

        def micro(carry, mb):
            grads_acc, nll_acc, n_acc, rngs = carry

            def objective(tr):
                model = nnx.merge(graphdef, tr, rngs, frozen)
                nll, n = completion_nll_sum(model, mb, loss_positions)
                return nll, (n, nnx.state(model, nnx.RngState))

            (nll, (n, rngs)), grads = jax.value_and_grad(objective, has_aux=True)(trainable)
            return (jax.tree.map(jnp.add, grads_acc, grads), nll_acc + nll, n_acc + n, rngs), None

        micro_batches = jax.tree.map(lambda x: _micro_batches(x, grad_accum), batch)
        zeros = jax.tree.map(jnp.zeros_like, trainable)
        (grads, nll, n, rngs), _ = jax.lax.scan(micro, (zeros, 0.0, 0.0, rngs), micro_batches)
        n = jnp.maximum(n, 1.0)
        grads = jax.tree.map(lambda g: g / n, grads)
        updates, opt_state = tx.update(grads, opt_state, trainable)
        trainable = optax.apply_updates(trainable, updates)
        metrics = {"loss": nll / n, "tokens": n, "grad_norm": optax.tree.norm(grads)}
        return trainable, rngs, opt_state, metrics

    return step
