"""GRPO's jit-able pieces over (graphdef, state): completion log-probs and one policy update.

A rollout row is the left-padded prompt (P slots) followed by its completion (M slots):
`tokens_NxL`, `valid_NxL` with L = P + M. Log-probs are of the temperature-scaled distribution,
the one the sampler drew from, so the ratio against the sampler's log-probs starts at 1.

With `group_size` G > 1 the rows come in groups of G completions of one prompt (the sampler's
order) and the prompt is run once per group: its keys/values are repeated G times and the
completions attend to them, like the sampler's shared prefill. The gradient of every completion
flows back into that one prompt pass, so log-probs and gradients equal the per-row forward's;
the cost of the prompt's forward and backward is paid once a group instead of G times.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from personax.models.transformer import causal_mask, init_cache, positions_from_valid, share_prefix
from personax.rl.aggregation import aggregation_count
from personax.rl.loss import LossConfig, policy_loss
from personax.train.losses import token_logprobs


def completion_logprobs(model: nnx.Module, tokens_NxL, valid_NxL, prompt_len: int, temperature: float,
                        group_size: int = 1):
    """Only the M positions that predict a completion slot go through the vocabulary projection: the
    prompt's logits (most of the row) are never formed, in the forward or the backward pass."""
    if group_size > 1:
        h_NxMxD = _shared_prompt_hidden(model, tokens_NxL, valid_NxL, prompt_len, group_size)
    else:
        h_NxLxD, _ = model.hidden(tokens_NxL, positions_from_valid(valid_NxL), causal_mask(valid_NxL))
        h_NxMxD = h_NxLxD[:, prompt_len - 1:-1]
    logits_NxMxV = model.logits(h_NxMxD).astype(jnp.float32) / temperature
    return token_logprobs(logits_NxMxV, tokens_NxL[:, prompt_len:])


def _shared_prompt_hidden(model: nnx.Module, tokens_NxL, valid_NxL, prompt_len: int, group_size: int):
    """The hidden states that predict the M completion slots, with one prompt pass per group of G rows."""
    N, L = tokens_NxL.shape
    if N % group_size:
        raise ValueError(f"shared-prompt forward: {N} rows are not whole groups of G={group_size}")
    P, G = prompt_len, group_size
    positions_NxL, mask_NxLxL = positions_from_valid(valid_NxL), causal_mask(valid_NxL)
    cache = init_cache(model.cfg, N // G, P)
    h_BxPxD, cache = model.hidden(tokens_NxL[::G, :P], positions_NxL[::G, :P], mask_NxLxL[::G, :P, :P], cache, 0)
    cache = share_prefix(cache, G, L - P)  # a group's rows read its prompt's keys from one copy
    h_NxMxD, _ = model.hidden(tokens_NxL[:, P:], positions_NxL[:, P:], mask_NxLxL[:, P:], cache, P)
    # The prompt's last slot predicts the first completion token; completion slot t predicts t + 1.
    return jnp.concatenate([jnp.repeat(h_BxPxD[:, -1:], G, axis=0), h_NxMxD[:, :-1]], axis=1)


def make_logprob_fn(graphdef, prompt_len: int, temperature: float, group_size: int = 1):
    """logp(trainable, rngs, frozen, tokens, valid) -> logp_NxM (no gradient; sampler/ref/old passes)."""
    def logp(trainable, rngs, frozen, tokens_NxL, valid_NxL):
        model = nnx.merge(graphdef, trainable, rngs, frozen)
        return completion_logprobs(model, tokens_NxL, valid_NxL, prompt_len, temperature, group_size)
    return logp


def make_grpo_update(graphdef, tx: optax.GradientTransformation, loss_cfg: LossConfig, prompt_len: int,
                     temperature: float, on_policy: bool = False, group_size: int = 1):
    """update(trainable, rngs, frozen, opt_state, mb) -> (trainable, rngs, opt_state, metrics), where
    every leaf of `mb` (tokens, valid, old_logp, ref_logp, advantages, mask) is [micro-batches, ...].
    Micro-batch gradients are summed with the whole mini-batch's aggregation denominator, so the
    update equals one pass over the mini-batch.

    `on_policy`: the step makes a single update (μ 1, one mini-batch), so π_old is the policy being
    differentiated: old log-probs are its own, gradient stopped (ρ = 1 exactly), and no separate
    old pass is run. `mb` then carries `sampler_logp` instead of `old_logp`, and the metrics add
    `logprob_gap_sampler_trainer` (mean |ℓθ − ℓsampler| over the kept tokens, averaged over micro-batches).
    `group_size` > 1: every micro-batch is whole groups in sampler order; one prompt pass a group."""

    def update(trainable, rngs, frozen, opt_state, mb):
        flat_mask = mb["mask"].reshape(-1, mb["mask"].shape[-1])
        count = aggregation_count(loss_cfg.aggregation, flat_mask)

        def micro(carry, m):
            grads_acc, rngs = carry

            def objective(tr):
                model = nnx.merge(graphdef, tr, rngs, frozen)
                logp = completion_logprobs(model, m["tokens"], m["valid"], prompt_len, temperature, group_size)
                old = jax.lax.stop_gradient(logp) if on_policy else m["old_logp"]
                loss, metrics = policy_loss(logp, old, m.get("ref_logp"), m["advantages"], m["mask"],
                                            loss_cfg, count=count)
                if on_policy:
                    gap = jnp.abs(jax.lax.stop_gradient(logp) - m["sampler_logp"]) * m["mask"]
                    metrics = metrics | {"logprob_gap_sampler_trainer": gap.sum() / jnp.maximum(m["mask"].sum(), 1.0)}
                return loss, (metrics, nnx.state(model, nnx.RngState))

            (_, (metrics, rngs)), grads = jax.value_and_grad(objective, has_aux=True)(trainable)
            return (jax.tree.map(jnp.add, grads_acc, grads), rngs), metrics

        zeros = jax.tree.map(jnp.zeros_like, trainable)
        (grads, rngs), metrics = jax.lax.scan(micro, (zeros, rngs), mb)
        updates, opt_state = tx.update(grads, opt_state, trainable)
        trainable = optax.apply_updates(trainable, updates)
        # The loss is a sum over micro-batches (each already divided by the shared count).
        reduce = {"loss": jnp.sum, "pg_loss": jnp.sum, "tokens": jnp.sum, "sequences": jnp.sum,
                  "ratio_max": jnp.max, "ratio_min": jnp.min}
        summary = {k: reduce.get(k, jnp.mean)(v) for k, v in metrics.items()}
        summary["grad_norm"] = optax.tree.norm(grads)
        return trainable, rngs, opt_state, summary

    return update
