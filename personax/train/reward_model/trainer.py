"""The reward-model stage, top to bottom: pairs, model, mesh, resume, loop, held-out evals,
checkpoints. Everything lands in `WORKDIR/reward_model/` (config.json, tokenizer for a scratch
trunk, pairs.jsonl when built in the sim world, checkpoints/, metrics.jsonl, tb/); that folder is
what `rewards.learned_rm.checkpoint` names. Rerunning the same command resumes.
"""
from __future__ import annotations

import pathlib
import time

import jax
import ml_collections
from flax import nnx
from tqdm import tqdm

from personax.sharding import MeshConfig, make_mesh, place_batch, replicated, shard_state
from personax.train.checkpoint import Checkpointer, abstract_like
from personax.train.metrics import MetricWriter, read_metrics
from personax.train.reward_model.data import eval_batches, load_pairs, pair_arrays, train_indices
from personax.train.reward_model.loss import bt_loss_fn
from personax.train.reward_model.model import build_reward_model, save_model_config, split_reward_model
from personax.train.reward_model.pairs import split_pairs
from personax.train.sft import sft_optimizer
from personax.train.step import make_train_step


def evaluate(eval_fn, trainable, rngs, frozen, arrays, batch_size: int, mesh) -> dict[str, float]:
    """Pair-weighted means of the loss metrics over every held-out pair."""
    sums, total = {}, 0.0
    share = slice(jax.process_index(), None, jax.process_count())
    for batch in eval_batches(arrays, batch_size):
        _, m = eval_fn(trainable, rngs, frozen, place_batch(mesh, {k: v[share] for k, v in batch.items()}))
        m = jax.device_get(m)
        for k, v in m.items():
            if k != "pairs":
                sums[k] = sums.get(k, 0.0) + float(v) * float(m["pairs"])
        total += float(m["pairs"])
    return {f"eval/{k}": v / total for k, v in sums.items()} | {"eval/pairs": total}


def run_reward_model(cfg: ml_collections.ConfigDict, workdir: str | pathlib.Path) -> dict:
    workdir = pathlib.Path(workdir)
    rc, rm_dir = cfg.reward_model, workdir / "reward_model"
    mesh = make_mesh(MeshConfig(**cfg.mesh))
    shards = mesh.shape["data"] * mesh.shape["fsdp"]
    if rc.batch_size % shards or rc.batch_size % jax.process_count():
        raise ValueError(f"reward_model.batch_size={rc.batch_size} must split over the mesh's {shards} batch shards "
                         f"and {jax.process_count()} hosts")
    train, held = split_pairs(load_pairs(cfg, workdir), rc.eval_fraction, cfg.seed)
    if len(train) < rc.batch_size:
        raise ValueError(f"{len(train)} training pairs is fewer than reward_model.batch_size={rc.batch_size}")
    model, tok = build_reward_model(cfg.model, cfg.lora, cfg.seed, rm_dir,
                                    texts=lambda: (t for p in train for t in (p.context, p.chosen, p.rejected)))
    save_model_config(rm_dir, cfg, rc.max_len)
    graphdef, trainable, rngs, frozen = split_reward_model(model)
    trainable, frozen = shard_state(trainable, mesh), shard_state(frozen, mesh)
    rngs = jax.device_put(rngs, replicated(mesh))
    tx, schedule = sft_optimizer(rc)  # the same Adam + clip + warmup-cosine recipe, from this section's fields
    # Scalars such as Adam's count come out on one device: replicate them, so a restored state
    # (placed like this one) lives on the same devices as the parameters.
    opt_state = jax.tree.map(lambda x: x if len(x.sharding.device_set) > 1 else jax.device_put(x, replicated(mesh)),
                             jax.jit(tx.init)(trainable))
    train_arrays, held_arrays = pair_arrays(tok, train, rc.max_len), pair_arrays(tok, held, rc.max_len)

    ckpt = Checkpointer(str(rm_dir / "checkpoints"), max_to_keep=rc.keep_checkpoints)
    start = 0
    if ckpt.latest_step() is not None:
        r = ckpt.restore(params=abstract_like({"trainable": trainable, "rngs": rngs}),
                         opt_state=abstract_like(opt_state))
        trainable, rngs, opt_state, start = r["params"]["trainable"], r["params"]["rngs"], r["opt_state"], r["step"]
    writer = MetricWriter(rm_dir, resume_step=start)
    loss_fn = bt_loss_fn(rc.center_coef)
    step_fn = jax.jit(make_train_step(graphdef, tx, loss_fn), donate_argnums=(0, 3))
    eval_fn = jax.jit(lambda tr, rn, fr, batch: loss_fn(nnx.merge(graphdef, tr, rn, fr), batch))
    last = {}
    bar = tqdm(range(start, rc.steps), initial=start, total=rc.steps, desc="reward model", disable=not cfg.progress)
    for step in bar:
        t0 = time.perf_counter()
        # Every host draws the same global rows and passes its own share of them.
        idx = train_indices(len(train), rc.batch_size, cfg.seed, step)[jax.process_index()::jax.process_count()]
        batch = place_batch(mesh, {k: v[idx] for k, v in train_arrays.items()})
        trainable, rngs, opt_state, m = step_fn(trainable, rngs, frozen, opt_state, batch)
        done = step + 1
        evals = {}
        if held and (done % rc.eval_every == 0 or done == rc.steps):
            evals = evaluate(eval_fn, trainable, rngs, frozen, held_arrays, rc.batch_size, mesh)
        if done % rc.log_every == 0 or done == rc.steps or evals:
            m = jax.device_get(m)
            last = writer.write(done, {**m, **evals, "lr": schedule(step), "step_s": time.perf_counter() - t0})
            bar.set_postfix(loss=f"{last['loss']:.3f}", acc=f"{last['accuracy']:.2f}")
        if done % rc.checkpoint_every == 0 or done == rc.steps:
            ckpt.save(done, {"trainable": trainable, "rngs": rngs}, opt_state,
                      extra={"train_pairs": len(train), "held_out_pairs": len(held)})
    ckpt.close()
    writer.close()
    return last or (read_metrics(rm_dir) or [{}])[-1]  # a finished run, rerun: its last logged step
