"""Sharded (8 fake CPU devices, two mesh shapes) == single device, and checkpoints move between meshes."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from personax.models import registry  # noqa: F401
from personax.models.config import get_config
from personax.models.lora import LoRAConfig, apply_lora
from personax.models.transformer import DecoderLM, causal_mask, positions_from_valid
from personax.sampler import SamplingParams, generate, left_pad
from personax.sharding import (MeshConfig, batch_sharding, make_mesh, place_batch, shard_state,
                               spec_for, state_shardings)
from personax.train.checkpoint import Checkpointer, abstract_like
from personax.train.sft import completion_nll_sum
from personax.train.step import make_train_step, split_for_training

MESHES = [MeshConfig(data=2, fsdp=2, tensor=2), MeshConfig(data=1, fsdp=2, tensor=4)]


@pytest.fixture(scope="module")
def lora_model():
    assert len(jax.devices()) == 8, "conftest must force 8 host devices"
    cfg = get_config("tiny-qwen3")
    model = DecoderLM(cfg, nnx.Rngs(0))
    apply_lora(model, LoRAConfig(rank=4), nnx.Rngs(1))
    return model


def _batch():
    tokens = np.asarray(jax.random.randint(jax.random.key(5), (8, 12), 1, 256), np.int32)
    valid = np.ones((8, 12), bool)
    valid[:3, :4] = False
    loss_mask = valid.copy()
    loss_mask[:, :6] = False
    return {"tokens": tokens, "valid": valid, "loss_mask": loss_mask}


def _loss(model, batch):
    valid = batch["valid"]
    nll, n = completion_nll_sum(model, {"tokens": batch["tokens"], "loss_mask": batch["loss_mask"],
                                        "segment_ids": valid.astype(jnp.int32), "positions": positions_from_valid(valid)})
    return nll / n, {"loss": nll / n}


def _one_step(model, mesh=None):
    graphdef, trainable, rngs, frozen = split_for_training(model)
    # SGD: the update is linear in the gradient, so the comparison checks the gradients themselves
    # (Adam's first step is ~sign(g) and amplifies float noise on near-zero entries).
    tx = optax.sgd(1.0)
    batch = _batch()
    if mesh is not None:
        trainable, frozen = shard_state(trainable, mesh), shard_state(frozen, mesh)
        batch = place_batch(mesh, batch)
    opt_state = tx.init(trainable)
    step = jax.jit(make_train_step(graphdef, tx, _loss))
    return step(trainable, rngs, frozen, opt_state, batch)


@pytest.mark.parametrize("mesh_cfg", MESHES, ids=str)
def test_sharded_forward_train_step_and_sampling_match_single_device(lora_model, mesh_cfg):
    mesh = make_mesh(mesh_cfg)
    graphdef, state = nnx.split(lora_model)
    batch = _batch()
    fwd = jax.jit(lambda s, t, v: nnx.merge(graphdef, s)(t, positions_from_valid(v), causal_mask(v))[0])
    single = fwd(state, batch["tokens"], batch["valid"])
    sharded_state = shard_state(state, mesh)
    placed = place_batch(mesh, {"tokens": batch["tokens"], "valid": batch["valid"]})
    sharded = fwd(sharded_state, placed["tokens"], placed["valid"])
    assert placed["tokens"].sharding == batch_sharding(mesh)
    np.testing.assert_allclose(sharded, single, atol=1e-5)

    ref_params, _, _, ref_metrics = _one_step(lora_model)
    params, _, _, metrics = _one_step(lora_model, mesh)
    np.testing.assert_allclose(metrics["loss"], ref_metrics["loss"], rtol=1e-5)
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(ref_params)):
        np.testing.assert_allclose(a, b, atol=1e-5)
    assert float(ref_metrics["grad_norm"]) > 0

    tokens, valid = left_pad([[5, 6, 7, 8], [9, 10], [11, 12, 13], [3]] * 2)
    p = SamplingParams(max_new_tokens=5, greedy=True)
    single_out = generate(graphdef, state, tokens, valid, jax.random.key(0), p)
    placed = place_batch(mesh, {"t": tokens, "v": valid})
    sharded_out = generate(graphdef, sharded_state, placed["t"], placed["v"], jax.random.key(0), p)
    np.testing.assert_array_equal(sharded_out.tokens_NxM, single_out.tokens_NxM)
    np.testing.assert_allclose(sharded_out.logprobs_NxM, single_out.logprobs_NxM, atol=1e-4)


def test_partition_rules_cover_every_parameter_and_shard_the_big_ones(lora_model):
    mesh = make_mesh(MESHES[0])
    _, state = nnx.split(lora_model)
    shardings = state_shardings(state, mesh)
    specs = {str(s.spec) for s in jax.tree.leaves(shardings)}
    P = jax.sharding.PartitionSpec
    assert str(P('fsdp', 'tensor')) in specs and str(P('tensor', 'fsdp')) in specs
    assert spec_for("layers/0/attn/q/kernel", (64, 63), mesh) == jax.sharding.PartitionSpec("fsdp", None)
    with pytest.raises(ValueError, match="no partition rule matches parameter 'mystery/w'"):
        spec_for("mystery/w", (4, 4), mesh)


def test_checkpoint_saved_on_one_mesh_restores_on_another(lora_model, tmp_path):
    graphdef, trainable, _, _ = split_for_training(lora_model)
    trainable = jax.tree.map(lambda x: x + 0.5, trainable)
    tx = optax.adam(1e-3)
    mesh_a, mesh_b = make_mesh(MESHES[0]), make_mesh(MESHES[1])
    on_a = shard_state(trainable, mesh_a)
    ckpt = Checkpointer(str(tmp_path / "ckpt"))
    ckpt.save(7, on_a, tx.init(on_a), jax.random.key(42), data_state={"index": 13}, extra={"stage": "sft"})
    ckpt.wait()
    target = abstract_like(trainable, state_shardings(trainable, mesh_b))
    restored = Checkpointer(str(tmp_path / "ckpt")).restore(params=target, opt_state=abstract_like(tx.init(trainable)))
    assert restored["step"] == 7 and restored["data_state"] == {"index": 13} and restored["extra"] == {"stage": "sft"}
    np.testing.assert_array_equal(jax.random.key_data(restored["rng_key"]), jax.random.key_data(jax.random.key(42)))
    for got, want, sharding in zip(jax.tree.leaves(restored["params"]), jax.tree.leaves(trainable),
                                   jax.tree.leaves(state_shardings(trainable, mesh_b))):
        np.testing.assert_array_equal(got, want)
        assert got.sharding == sharding
    assert jax.tree.leaves(restored["opt_state"])


def test_mesh_errors():
    with pytest.raises(ValueError, match="needs 16 devices, found 8"):
        make_mesh(MeshConfig(data=4, fsdp=2, tensor=2))
    with pytest.raises(ValueError, match="at most one mesh axis may be -1"):
        make_mesh(MeshConfig(data=-1, fsdp=-1))
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        Checkpointer("/tmp/personax-empty-ckpt-dir-test").restore(params={})
