"""The SFT step: completion-only loss, and accumulation equal to one big batch."""
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest
from flax import nnx

from personax.data.pipeline import trim_to_bucket, used_length
from personax.models import registry  # noqa: F401
from personax.models.config import get_config
from personax.models.lora import LoRAConfig, apply_lora
from personax.models.transformer import DecoderLM
from personax.train.sft import check_loss_positions, completion_nll_sum, make_sft_step, sft_optimizer
from personax.train.step import split_for_training


def _batch(rows=8, length=16, seed=0):
    rng = np.random.default_rng(seed)
    tokens = rng.integers(1, 256, (rows, length)).astype(np.int32)
    lengths = rng.integers(8, length + 1, rows)
    real = np.arange(length)[None] < lengths[:, None]
    loss_mask = real & (np.arange(length)[None] >= 5)
    return {"tokens": np.where(real, tokens, 0), "loss_mask": loss_mask.astype(np.int32),
            "segment_ids": real.astype(np.int32), "positions": np.broadcast_to(np.arange(length), (rows, length)).astype(np.int32)}


def _setup():
    model = DecoderLM(get_config("tiny"), nnx.Rngs(0))
    apply_lora(model, LoRAConfig(rank=4), nnx.Rngs(1))
    return split_for_training(model), model


def test_loss_counts_only_completion_tokens():
    (graphdef, tr, rngs, frozen), model = _setup()
    batch = _batch()
    nll, n = completion_nll_sum(model, batch)
    assert int(n) == int(batch["loss_mask"][:, 1:].sum())
    # Changing a prompt-only token's *target* role does not matter; changing a completion token does.
    changed = dict(batch, tokens=batch["tokens"].copy())
    row, col = 0, int(np.argmax(batch["loss_mask"][0]))
    changed["tokens"][row, col] = (changed["tokens"][row, col] + 1) % 256
    assert float(completion_nll_sum(model, changed)[0]) != float(nll)


def _packed(batch):
    """Two segments a row, each with its own completion: the loss positions are not one run."""
    packed = dict(batch, segment_ids=batch["segment_ids"].copy(), loss_mask=batch["loss_mask"].copy())
    packed["segment_ids"][:, 8:] *= 2
    packed["loss_mask"][:, 8:10] = 0
    packed["loss_mask"][:, 3:5] = 1
    return packed


def test_projecting_only_the_completion_positions_gives_the_same_loss_and_gradients():
    (graphdef, tr, rngs, frozen), _ = _setup()
    tr = jax.tree.map(lambda x: x + 0.01, tr)
    batch = _packed(_batch())
    most = int(batch["loss_mask"][:, 1:].sum(1).max())
    tx = optax.sgd(1.0)
    every = jax.jit(make_sft_step(graphdef, tx, 2))(tr, rngs, frozen, tx.init(tr), batch)
    some = jax.jit(make_sft_step(graphdef, tx, 2, loss_positions=most))(tr, rngs, frozen, tx.init(tr), batch)
    np.testing.assert_allclose(some[3]["loss"], every[3]["loss"], rtol=1e-6)
    assert float(some[3]["tokens"]) == float(every[3]["tokens"])
    for a, b in zip(jax.tree.leaves(every[0]), jax.tree.leaves(some[0])):
        np.testing.assert_allclose(a, b, atol=1e-6)
    check_loss_positions(batch["loss_mask"], most)
    check_loss_positions(batch["loss_mask"], 0)
    with pytest.raises(ValueError, match=f"sft.loss_positions={most - 1} but a batch row has {most}"):
        check_loss_positions(batch["loss_mask"], most - 1)


def test_a_batch_cut_to_its_length_bucket_trains_like_the_padded_one():
    """sft.length_buckets drops trailing padding columns only: same loss, same update."""
    (graphdef, tr, rngs, frozen), _ = _setup()
    tr = jax.tree.map(lambda x: x + 0.01, tr)
    batch = _packed(_batch(length=16))
    padded = {k: np.pad(v, ((0, 0), (0, 16))) for k, v in batch.items()}  # 32 columns, the last 16 padding
    cut = trim_to_bucket(padded, (16, 24, 32), used_length(padded))
    assert cut["tokens"].shape == (8, 16)
    tx = optax.sgd(1.0)
    for k in (0, 12):
        step = jax.jit(make_sft_step(graphdef, tx, 2, loss_positions=k))
        full, short = (step(tr, rngs, frozen, tx.init(tr), b) for b in (padded, cut))
        np.testing.assert_allclose(short[3]["loss"], full[3]["loss"], rtol=1e-6)
        for a, b in zip(jax.tree.leaves(full[0]), jax.tree.leaves(short[0])):
            np.testing.assert_allclose(a, b, atol=1e-6)


def test_gradient_accumulation_equals_one_big_batch():
    (graphdef, tr, rngs, frozen), _ = _setup()
    tr = jax.tree.map(lambda x: x + 0.01, tr)  # nonzero B so every adapter has gradients
    tx = optax.sgd(1.0)
    batch = _batch()
    one = jax.jit(make_sft_step(graphdef, tx, 1))(tr, rngs, frozen, tx.init(tr), batch)
    four = jax.jit(make_sft_step(graphdef, tx, 4))(tr, rngs, frozen, tx.init(tr), batch)
    np.testing.assert_allclose(one[3]["loss"], four[3]["loss"], rtol=1e-5)
    for a, b in zip(jax.tree.leaves(one[0]), jax.tree.leaves(four[0])):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_optimizer_schedule_warms_up_then_decays_to_end_lr():
    c = ml_collections.ConfigDict(dict(peak_lr=5e-5, end_lr=1e-5, warmup_steps=100, steps=1000, grad_clip=1.0,
                                       b1=0.9, b2=0.95, eps=1e-12))
    _, schedule = sft_optimizer(c)
    assert float(schedule(0)) == 0.0
    np.testing.assert_allclose(float(schedule(100)), 5e-5, rtol=1e-6)
    np.testing.assert_allclose(float(schedule(1000)), 1e-5, rtol=1e-6)
    assert 1e-5 < float(schedule(500)) < 5e-5


def test_training_reduces_the_loss():
    (graphdef, tr, rngs, frozen), _ = _setup()
    tx = optax.adam(3e-3)
    step = jax.jit(make_sft_step(graphdef, tx, 2))
    opt = tx.init(tr)
    batch = _batch()
    losses = []
    for _ in range(20):
        tr, rngs, opt, m = step(tr, rngs, frozen, opt, batch)
        losses.append(float(m["loss"]))
    assert losses[-1] < losses[0] - 0.5 and all(b < a for a, b in zip(losses, losses[1:])), losses
