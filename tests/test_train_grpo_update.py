"""GRPO update: micro-batch accumulation equals one pass; log-probs match the sampler's; the
shared-prompt forward (one prompt pass a group) equals the per-row forward, values and gradients."""
import pytest
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from personax.models import registry  # noqa: F401
from personax.models.config import get_config
from personax.models.lora import LoRAConfig, apply_lora
from personax.models.transformer import DecoderLM
from personax.rl.loss import LossConfig
from personax.sampler import SamplingParams, generate, left_pad
from personax.train.grpo import make_grpo_update, make_logprob_fn
from personax.train.step import split_for_training

T = 0.7


def _rollouts(model_name: str = "tiny"):
    model = DecoderLM(get_config(model_name), nnx.Rngs(0))
    apply_lora(model, LoRAConfig(rank=4), nnx.Rngs(1))
    graphdef, tr, rngs, frozen = split_for_training(model)
    tr = jax.tree.map(lambda x: x + 0.02, tr)
    prompts, valid = left_pad([[5, 6, 7, 8], [9, 10]])
    out = generate(*nnx.split(nnx.merge(graphdef, tr, rngs, frozen)), prompts, valid, jax.random.key(3),
                   SamplingParams(max_new_tokens=6, temperature=T, num_samples=4, stop_ids=(17,)))
    P = prompts.shape[1]
    tokens = jnp.concatenate([jnp.repeat(prompts, 4, 0), out.tokens_NxM], 1)
    comp_mask = jnp.arange(6)[None] < out.lengths_N[:, None]
    valid_all = jnp.concatenate([jnp.repeat(valid, 4, 0), comp_mask], 1)
    return (graphdef, tr, rngs, frozen), P, tokens, valid_all, comp_mask, out


def test_trainer_logprobs_match_the_sampler():
    (graphdef, tr, rngs, frozen), P, tokens, valid, mask, out = _rollouts()
    logp = jax.jit(make_logprob_fn(graphdef, P, T))(tr, rngs, frozen, tokens, valid)
    np.testing.assert_allclose(jnp.where(mask, logp, 0), out.logprobs_NxM, atol=1e-4)


def test_micro_batches_equal_one_pass_and_the_policy_moves():
    (graphdef, tr, rngs, frozen), P, tokens, valid, mask, out = _rollouts()
    adv = jnp.asarray([1.0, -1.0, 0.5, -0.5, 1.5, -1.5, 0.2, -0.2])
    batch = {"tokens": tokens, "valid": valid, "old_logp": out.logprobs_NxM, "advantages": adv,
             "mask": mask.astype(jnp.float32)}
    cfg = LossConfig(beta=0.0)
    tx = optax.sgd(0.5)
    update = jax.jit(make_grpo_update(graphdef, tx, cfg, P, T))
    one = update(tr, rngs, frozen, tx.init(tr), jax.tree.map(lambda x: x[None], batch))
    two = update(tr, rngs, frozen, tx.init(tr), jax.tree.map(lambda x: x.reshape(2, 4, *x.shape[1:]), batch))
    np.testing.assert_allclose(one[3]["loss"], two[3]["loss"], rtol=1e-5, atol=1e-7)
    for a, b in zip(jax.tree.leaves(one[0]), jax.tree.leaves(two[0])):
        np.testing.assert_allclose(a, b, atol=1e-6)
    # Pushing up positive-advantage completions raises their log-probs.
    logp_fn = jax.jit(make_logprob_fn(graphdef, P, T))
    before = logp_fn(tr, rngs, frozen, tokens, valid)
    after = logp_fn(one[0], rngs, frozen, tokens, valid)
    delta = ((after - before) * mask).sum(1)
    assert float(delta[0]) > 0 and float(delta[1]) < 0


def test_on_policy_update_equals_the_update_against_a_stored_old_pass():
    (graphdef, tr, rngs, frozen), P, tokens, valid, mask, out = _rollouts()
    adv = jnp.asarray([1.0, -1.0, 0.5, -0.5, 1.5, -1.5, 0.2, -0.2])
    old = jax.jit(make_logprob_fn(graphdef, P, T))(tr, rngs, frozen, tokens, valid)
    base = {"tokens": tokens, "valid": valid, "advantages": adv, "mask": mask.astype(jnp.float32)}
    tx, cfg = optax.sgd(0.5), LossConfig(beta=0.0)
    split = lambda b: jax.tree.map(lambda x: x.reshape(2, 4, *x.shape[1:]), b)  # noqa: E731
    stored = jax.jit(make_grpo_update(graphdef, tx, cfg, P, T))(
        tr, rngs, frozen, tx.init(tr), split(base | {"old_logp": old}))
    own = jax.jit(make_grpo_update(graphdef, tx, cfg, P, T, on_policy=True))(
        tr, rngs, frozen, tx.init(tr), split(base | {"sampler_logp": out.logprobs_NxM}))
    for a, b in zip(jax.tree.leaves(stored[0]), jax.tree.leaves(own[0])):
        np.testing.assert_allclose(a, b, atol=1e-6)
    assert float(own[3]["ratio_max"]) == 1.0 and float(own[3]["ratio_min"]) == 1.0  # exactly: π_old is π_θ
    np.testing.assert_allclose(own[3]["loss"], stored[3]["loss"], rtol=1e-5, atol=1e-7)
    assert 0.0 <= float(own[3]["logprob_gap_sampler_trainer"]) < 1e-4
    # A wrong sampler log-prob shows in the gap.
    shifted = jax.jit(make_grpo_update(graphdef, tx, cfg, P, T, on_policy=True))(
        tr, rngs, frozen, tx.init(tr), split(base | {"sampler_logp": out.logprobs_NxM - 0.5}))
    assert abs(float(shifted[3]["logprob_gap_sampler_trainer"]) - 0.5) < 1e-4


@pytest.mark.parametrize("model_name", ["tiny", "tiny-gemma3"])  # gemma3: sliding-window layers too
def test_shared_prompt_forward_equals_the_per_row_forward(model_name):
    (graphdef, tr, rngs, frozen), P, tokens, valid, mask, out = _rollouts(model_name)
    per_row = jax.jit(make_logprob_fn(graphdef, P, T))(tr, rngs, frozen, tokens, valid)
    shared = jax.jit(make_logprob_fn(graphdef, P, T, group_size=4))(tr, rngs, frozen, tokens, valid)
    np.testing.assert_allclose(jnp.where(mask, shared, 0), jnp.where(mask, per_row, 0), atol=1e-5)
    np.testing.assert_allclose(jnp.where(mask, shared, 0), out.logprobs_NxM, atol=1e-4)
    # The update (gradients summed over the group's completions into one prompt pass) is the same.
    adv = jnp.asarray([1.0, -1.0, 0.5, -0.5, 1.5, -1.5, 0.2, -0.2])
    mb = {"tokens": tokens, "valid": valid, "old_logp": per_row, "advantages": adv, "mask": mask.astype(jnp.float32)}
    mb = jax.tree.map(lambda x: x.reshape(2, 4, *x.shape[1:]), mb)  # two micro-batches, one group each
    tx, cfg = optax.sgd(0.5), LossConfig(beta=0.0)
    a = jax.jit(make_grpo_update(graphdef, tx, cfg, P, T))(tr, rngs, frozen, tx.init(tr), mb)
    b = jax.jit(make_grpo_update(graphdef, tx, cfg, P, T, group_size=4))(tr, rngs, frozen, tx.init(tr), mb)
    assert float(a[3]["grad_norm"]) > 0
    np.testing.assert_allclose(a[3]["grad_norm"], b[3]["grad_norm"], rtol=1e-4)
    # float32 summation order only: up to 1.1e-5 after this SGD step on an AVX-512 CPU, under 1e-5 on AVX2;
    # one completion's gradient left out moves some weight by 0.46 here.
    for x, y in zip(jax.tree.leaves(a[0]), jax.tree.leaves(b[0])):
        np.testing.assert_allclose(x, y, atol=3e-5)


def test_shared_prompt_forward_rejects_partial_groups():
    (graphdef, tr, rngs, frozen), P, tokens, valid, mask, out = _rollouts()
    with pytest.raises(ValueError, match="6 rows are not whole groups of G=4"):
        make_logprob_fn(graphdef, P, T, group_size=4)(tr, rngs, frozen, tokens[:6], valid[:6])
