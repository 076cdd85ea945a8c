"""The SFT stage, top to bottom: model, mesh, data, resume, loop, checkpoints.

Rerunning the same command resumes from the last checkpoint (parameters, optimizer, dropout RNG
and the Grain iterator position), so a killed run ends exactly where an uninterrupted one would.
"""
from __future__ import annotations

import pathlib
import time

import grain
import jax
import ml_collections
import numpy as np
from jax.experimental import multihost_utils
from tqdm import tqdm

from personax.data.examples import PPOptExample
from personax.data.importers import load, to_examples
from personax.data.pipeline import PipelineConfig, bucket_lengths, build_pipeline, trim_to_bucket, used_length
from personax.sharding import (MeshConfig, commit, host_state_for_checkpoint, host_state_from_checkpoint, is_primary,
                               make_mesh, place_batch, replicated, shard_state, state_out_shardings)
from personax.train.checkpoint import Checkpointer, abstract_like
from personax.train.data_stage import run_data
from personax.train.metrics import MetricWriter, read_metrics
from personax.train.policy import add_adapters, load_base
from personax.train.sft import check_loss_positions, make_sft_step, sft_optimizer
from personax.train.stages import get_stage, sft_split
from personax.train.step import split_for_training


def read_examples(path: pathlib.Path) -> list[PPOptExample]:
    """A split file written by the data stage (errors name the file, line and field)."""
    return to_examples(load(path, kind="example"))


def sft_texts(path: pathlib.Path):
    return lambda: (t for e in read_examples(path) for t in (e.input, e.output or ""))


def cut_to_bucket(host_batch: dict, buckets: tuple[int, ...]) -> dict:
    """The batch at the shortest bucket that holds every host's rows (hosts agree on the shape)."""
    length = used_length(host_batch)
    if jax.process_count() > 1:
        length = int(multihost_utils.process_allgather(np.int32(length)).max())
    return trim_to_bucket(host_batch, buckets, length)


def run_sft(cfg: ml_collections.ConfigDict, workdir: str | pathlib.Path, stage: str = "sft") -> dict:
    """Trains `stage` (an SFT entry of `personax.train.stages.STAGES`) into `WORKDIR/<stage>/`."""
    workdir = pathlib.Path(workdir)
    c, spec = cfg.sft, get_stage(stage)
    if spec.kind != "sft":
        raise ValueError(f"run_sft: stage {stage!r} is a {spec.kind} stage")
    sft_path = run_data(cfg, workdir)["sft"]
    model, tok = load_base(cfg.model, cfg.seed, workdir, texts=sft_texts(sft_path))
    add_adapters(model, cfg.lora, cfg.seed)
    graphdef, trainable, rngs, frozen = split_for_training(model)
    mesh = make_mesh(MeshConfig(**cfg.mesh))
    trainable, frozen = shard_state(trainable, mesh), shard_state(frozen, mesh)
    rngs = jax.device_put(rngs, replicated(mesh))
    tx, schedule = sft_optimizer(c)
    opt_state = commit(jax.jit(tx.init)(trainable), mesh)

    hosts = jax.process_count()
    if c.batch_size % (hosts * c.grad_accum):
        raise ValueError(f"sft.batch_size={c.batch_size} must split over {hosts} hosts x grad_accum={c.grad_accum}")
    data = build_pipeline(str(sft_split(spec, sft_path)), tok, PipelineConfig(
        mode="sft", max_len=c.max_len, batch_size=c.batch_size // hosts, pack=c.pack, seed=cfg.seed,
        num_epochs=None), grain.sharding.ShardOptions(jax.process_index(), hosts))
    it = iter(data)
    buckets = bucket_lengths(c.length_buckets, c.max_len) if c.length_buckets else ()

    ckpt = Checkpointer(str(workdir / stage / "checkpoints"), max_to_keep=c.keep_checkpoints)
    start = 0
    if ckpt.latest_step() is not None:
        r = ckpt.restore(params=abstract_like({"trainable": trainable, "rngs": rngs}),
                         opt_state=abstract_like(opt_state))
        trainable, rngs, opt_state, start = r["params"]["trainable"], r["params"]["rngs"], r["opt_state"], r["step"]
        it.set_state(host_state_from_checkpoint(r["data_state"], str(ckpt.directory)))
    writer = MetricWriter(workdir / stage, resume_step=start) if is_primary() else None
    step_fn = jax.jit(make_sft_step(graphdef, tx, c.grad_accum, c.loss_positions), donate_argnums=(0, 3),
                      out_shardings=state_out_shardings(mesh, trainable, rngs, opt_state))
    last = (read_metrics(workdir / stage) or [{}])[-1]  # a finished run reports its last logged step
    bar = tqdm(range(start, c.steps), initial=start, total=c.steps, desc=stage,
               disable=not (cfg.progress and is_primary()))
    for step in bar:
        t0 = time.perf_counter()
        host_batch = next(it)
        if buckets:
            host_batch = cut_to_bucket(host_batch, buckets)
        check_loss_positions(host_batch["loss_mask"], c.loss_positions)
        batch = place_batch(mesh, host_batch)
        trainable, rngs, opt_state, m = step_fn(trainable, rngs, frozen, opt_state, batch)
        done = step + 1
        if done % c.log_every == 0 or done == c.steps:
            m = jax.device_get(m)
            seconds = time.perf_counter() - t0
            row = {**m, "lr": schedule(step), "step_s": seconds, "row_len": batch["segment_ids"].shape[1],
                   "tokens_per_s": float(batch["segment_ids"].size) / seconds}
            last = {"step": done, **row} if writer is None else writer.write(done, row)
            bar.set_postfix(loss=f"{last['loss']:.3f}")
        if done % c.checkpoint_every == 0 or done == c.steps:
            ckpt.save(done, {"trainable": trainable, "rngs": rngs}, opt_state,
                      data_state=host_state_for_checkpoint(it.get_state()))
    ckpt.close()
    if writer is not None:
        writer.close()
    return last
