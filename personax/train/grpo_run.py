"""The GRPO stage, top to bottom (SPEC §2.3): sample G rewrites per state, ask the deployed LLM,
score with the configured rewards, compute group advantages, then μ passes of clipped updates
against the stored old log-probs, with a KL penalty to the SFT policy. Resumable like SFT.
"""
from __future__ import annotations

import asyncio
import functools
import math
import pathlib
import time

import grain
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from tqdm import tqdm

from personax.data.pipeline import PipelineConfig, build_pipeline
from personax.data.policy_io import count_statuses
from personax.rewards import build_deployed, build_judges, reward_context, reward_fn, rollout_batch
from personax.rewards.combine import after_reasoning
from personax.rewards.learned import build_scorer
from personax.rl.advantages import compute_advantages
from personax.rl.batching import update_schedule
from personax.rl.config import (batch_hierarchy, credit_mode, failure_tracker, loss_config, old_logp_source,
                                sampling_params, truncated_mode)
from personax.rl.filtering import drop_rows, penalize_truncated, valid_rollouts
from personax.rl.segments import reasoning_token_ends, segment_advantages
from personax.sampler import generate
from personax.rewards.base import summary
from personax.sharding import (MeshConfig, commit, gather_json, gather_rows, host_rows, is_primary, make_mesh,
                               put_global, replicated, shard_state, state_out_shardings, to_numpy)
from personax.train.checkpoint import Checkpointer, abstract_like
from personax.train.data_stage import run_data
from personax.train.grpo import make_grpo_update, make_logprob_fn
from personax.train.metrics import MetricWriter, read_metrics
from personax.train.policy import load_base
from personax.train.policy_init import grpo_policy, reference_fn, weight_drift
from personax.train.sft_run import read_examples, sft_texts
from personax.train.stages import get_stage, stage_config


def grpo_optimizer(g: ml_collections.ConfigDict) -> optax.GradientTransformation:
    return optax.chain(optax.clip_by_global_norm(g.grad_clip), optax.adam(g.lr, b1=g.b1, b2=g.b2, eps=g.eps))


def prompt_states(paths: dict[str, pathlib.Path], splits: tuple[str, ...], held_out: str,
                  max_states: int | None = None) -> list:
    """The states GRPO samples: the named splits' examples, split by split in file order; with
    `max_states` only the first that many (the overfit check: can GRPO raise the reward on a few states)."""
    unknown = [s for s in splits if s not in paths]
    if not splits or unknown:
        raise ValueError(f"grpo.prompt_splits={splits!r}: unknown split(s) {unknown}; the data has {sorted(paths)}")
    if held_out in splits:
        raise ValueError(f"grpo.prompt_splits must not name {held_out!r}: eval.split holds those states out")
    states = [e for s in splits for e in read_examples(paths[s])]
    if max_states is not None and not 1 <= max_states <= len(states):
        raise ValueError(f"grpo.max_states={max_states!r}: must be 1 to the {len(states)} states of {splits!r}")
    return states[:max_states]


def _decode(tok, tokens_NxM: np.ndarray, lengths_N: np.ndarray) -> list[str]:
    return [tok.decode(row[:n].tolist(), skip_special_tokens=True) for row, n in zip(tokens_NxM, lengths_N)]


def run_grpo(cfg: ml_collections.ConfigDict, workdir: str | pathlib.Path, stage: str = "grpo") -> dict:
    """Trains `stage` (a GRPO entry of `personax.train.stages.STAGES`) into `WORKDIR/<stage>/`."""
    workdir, spec = pathlib.Path(workdir), get_stage(stage)
    if spec.kind != "grpo":
        raise ValueError(f"run_grpo: stage {stage!r} is a {spec.kind} stage")
    cfg = stage_config(cfg, spec)
    g = cfg.grpo
    truncated, credit = truncated_mode(g), credit_mode(g)  # a bad value fails before any work
    paths = run_data(cfg, workdir)
    examples = prompt_states(paths, tuple(g.prompt_splits), held_out=cfg.eval.split, max_states=g.max_states)
    model, tok = load_base(cfg.model, cfg.seed, workdir, texts=sft_texts(paths["sft"]))
    graphdef, trainable, rngs, frozen, lora, from_sft = grpo_policy(model, cfg, workdir, stage)
    mesh = make_mesh(MeshConfig(**cfg.mesh))
    trainable, frozen = shard_state(trainable, mesh), shard_state(frozen, mesh)
    rngs = jax.device_put(rngs, replicated(mesh))
    reference = reference_fn(trainable, lora)
    drift = jax.jit(functools.partial(weight_drift, lora=lora, scale=cfg.lora.alpha / max(cfg.lora.rank, 1)),
                    out_shardings=replicated(mesh))
    start_weights = None if lora else reference(trainable)  # the frozen copy itself, not a new one
    tx = grpo_optimizer(g)
    opt_state = commit(jax.jit(tx.init)(trainable), mesh)
    h, loss_cfg = batch_hierarchy(g), loss_config(g)
    sampling = sampling_params(g, tuple(tok.stop_token_ids))
    deployed, judges, total_reward = build_deployed(cfg.rewards), build_judges(cfg.rewards), reward_fn(cfg.rewards)
    learned_rm = build_scorer(cfg.rewards)

    # Every host reads the step's few states (the same batches for any number of hosts) and scores
    # its own share of the rollouts; sampling and updates run on global arrays over all devices.
    if h.completions % jax.process_count():
        raise ValueError(f"grpo: {h.prompts_per_step} prompts x G={h.group_size} = {h.completions} rollouts "
                         f"must split over {jax.process_count()} hosts")
    seed = cfg.seed if g.seed is None else g.seed
    data = build_pipeline(examples, tok, PipelineConfig(
        mode="prompt", max_len=g.max_prompt_len, batch_size=h.prompts_per_step, seed=seed, num_epochs=None),
        grain.sharding.NoSharding())
    it = iter(data)
    ckpt = Checkpointer(str(workdir / stage / "checkpoints"), max_to_keep=g.keep_checkpoints)
    start, key, tracker = 0, jax.random.key(seed), failure_tracker(g)
    if ckpt.latest_step() is not None:
        r = ckpt.restore(params=abstract_like({"trainable": trainable, "rngs": rngs}),
                         opt_state=abstract_like(opt_state))
        trainable, rngs, opt_state, start = r["params"]["trainable"], r["params"]["rngs"], r["opt_state"], r["step"]
        it.set_state(r["data_state"]["iterator"])
        tracker = failure_tracker(g, recent=r["data_state"]["failures"])
    writer = MetricWriter(workdir / stage, resume_step=start) if is_primary() else None

    P, T = g.max_prompt_len, g.sampling.temperature
    G_shared = h.group_size if h.share_prompt else 1  # rows per prompt pass in the trainer's forwards
    logp_fn = jax.jit(make_logprob_fn(graphdef, P, T, G_shared))
    on_policy = h.updates_per_step == 1  # π_old is the differentiated policy: no separate old pass
    old_from_trainer = old_logp_source(g) == "trainer" and not on_policy  # the source checked either way
    update_fn = jax.jit(make_grpo_update(graphdef, tx, loss_cfg, P, T, on_policy, G_shared),
                        out_shardings=state_out_shardings(mesh, trainable, rngs, opt_state))
    last = (read_metrics(workdir / stage) or [{}])[-1]  # a finished run reports its last logged step
    bar = tqdm(range(start, g.steps), initial=start, total=g.steps, desc=stage,
               disable=not (cfg.progress and is_primary()))
    for step in bar:
        t0 = time.perf_counter()
        batch = next(it)
        prompts, prompt_mask = batch["prompt_tokens"], batch["prompt_mask"].astype(bool)
        full_graphdef, full_state = _whole(graphdef, trainable, rngs, frozen)
        out = generate(full_graphdef, full_state, *put_global(mesh, (prompts, prompt_mask)),
                       jax.random.fold_in(key, step), sampling)
        out = to_numpy(out)
        tokens_NxM, lengths_N = out.tokens_NxM, out.lengths_N
        t_rollout = time.perf_counter()

        mine = host_rows(len(tokens_NxM))
        rows = [examples[int(i)] for i in np.repeat(batch["example_index"], h.group_size)[mine]]
        texts = _decode(tok, tokens_NxM[mine], lengths_N[mine])
        rollouts = asyncio.run(rollout_batch(rows, texts, deployed, cfg.rewards.concurrency))
        R_N, components, reward_metrics = _global_rewards(*asyncio.run(
            total_reward(rollouts, reward_context(cfg.rewards, judges, step, learned_rm, deployed))), rollouts)
        cut_metrics = {}
        if truncated == "penalize":
            R_N, cut_metrics = penalize_truncated(R_N, out.stopped_N, g.filter.truncated_reward)
        ok_N = np.isfinite(R_N)
        tracker.update(~ok_N)
        valid_N, filter_metrics = valid_rollouts(ok_N, h.group_size, g.filter.min_valid_per_group,
                                                 out.stopped_N if truncated == "drop" else None)
        filter_metrics |= cut_metrics
        adv_N, adv_metrics = _group_advantages(R_N, valid_N, g, h.group_size)
        adv_N = np.asarray(adv_N)
        if credit == "segments":
            adv_N, segment_metrics = _segment_credit(
                adv_N, components, cfg.rewards.weights.to_dict(), valid_N, out, tok, g, h.group_size)
            adv_metrics = {**adv_metrics, **segment_metrics}
        t_reward = time.perf_counter()

        comp_mask_NxM = np.arange(tokens_NxM.shape[1])[None] < lengths_N[:, None]
        tokens_NxL = np.concatenate([np.repeat(prompts, h.group_size, 0), tokens_NxM], 1)
        valid_NxL = np.concatenate([np.repeat(prompt_mask, h.group_size, 0), comp_mask_NxM], 1)
        rollout_data = {"tokens": tokens_NxL, "valid": valid_NxL, "advantages": adv_N,
                        "mask": drop_rows(comp_mask_NxM.astype(np.float32), valid_N)}
        gap = {}
        if old_from_trainer or loss_cfg.beta > 0:  # a separate forward over the rollouts is needed
            rollout_in = put_global(mesh, (tokens_NxL, valid_NxL))
        if on_policy:
            rollout_data["sampler_logp"] = out.logprobs_NxM
        elif not old_from_trainer:
            rollout_data["old_logp"] = out.logprobs_NxM
        else:
            rollout_data["old_logp"] = old_logp = to_numpy(logp_fn(trainable, rngs, frozen, *rollout_in))
            gap = {"logprob_gap_sampler_trainer": float(np.abs(old_logp - out.logprobs_NxM)[comp_mask_NxM].mean())}
        if loss_cfg.beta > 0:
            rollout_data["ref_logp"] = to_numpy(logp_fn(reference(trainable), rngs, frozen, *rollout_in))
        update_metrics = []
        for idx in update_schedule(h, seed, step, g.batch.shuffle):
            mb = put_global(mesh, jax.tree.map(lambda x: x[idx], rollout_data), batch_axis=1)
            trainable, rngs, opt_state, m = update_fn(trainable, rngs, frozen, opt_state, mb)
            update_metrics.append(to_numpy(m))
        t_update = time.perf_counter()

        done = step + 1
        if done % g.log_every == 0 or done == g.steps:
            m = jax.tree.map(lambda *xs: jnp.mean(jnp.stack(xs)), *update_metrics)
            n_tokens = float(comp_mask_NxM.sum())
            row = {
                **jax.device_get(m), **reward_metrics, **filter_metrics, **jax.device_get(adv_metrics),
                "response_length": float(lengths_N.mean()), "stopped_frac": float(out.stopped_N.mean()),
                "weight_drift": float(drift(trainable, start_weights)),
                **gap, "rollout_s": t_rollout - t0, "reward_s": t_reward - t_rollout,
                "update_s": t_update - t_reward, "sample_tokens_per_s": n_tokens / max(t_rollout - t0, 1e-9),
            }
            last = {"step": done, **row} if writer is None else writer.write(
                done, row, text={"rollouts": _table(rollouts, R_N[mine], g.samples_to_log)})
            bar.set_postfix(reward=f"{last.get('reward/total/mean', float('nan')):.3f}")
        if done % g.checkpoint_every == 0 or done == g.steps:
            ckpt.save(done, {"trainable": trainable, "rngs": rngs}, opt_state,
                      data_state={"iterator": it.get_state(), "failures": tracker.state()})
    ckpt.close()
    if writer is not None:
        writer.close()
    return {**last, "started_from_sft": from_sft}


def _global_rewards(R_mine, components_mine: dict, metrics_mine: dict, rollouts):
    """Each host scored its own rows: the step's rewards over every host's rows, with the means and
    counts recomputed from them; other per-host metrics (fractions, judge call totals) are averaged,
    resp. summed (hosts score equal shares)."""
    n = len(rollouts)
    statuses = count_statuses(r.parsed for r in rollouts.rollouts)
    metrics_mine = {**metrics_mine, "fallback_rate": statuses["empty"] / n,
                    "no_prompt_tag_rate": statuses["no_prompt_tag"] / n}
    R_N, components = gather_rows((R_mine, components_mine))
    per_host = gather_json({k: float(v) if v is not None and np.isfinite(v) else None
                            for k, v in metrics_mine.items()})
    metrics = {}
    for k in metrics_mine:
        values = [m[k] for m in per_host if m.get(k) is not None]
        summed = k.startswith("judge/") or k.endswith("/nan")
        metrics[k] = float(np.sum(values) if summed else np.mean(values)) if values else math.nan
    for name, r_N in components.items():
        metrics |= summary(r_N, f"reward/{name}/")
    return R_N, components, metrics | summary(R_N, "reward/total/")


def _group_advantages(rewards_N, valid_N, g, group_size: int):
    """The configured estimator over one reward per rollout; rows not in `valid_N` (NaN) get 0."""
    return compute_advantages(jnp.asarray(np.nan_to_num(rewards_N)), group_size, g.advantage.estimator,
                              jnp.asarray(valid_N), g.advantage.eps)


def _segment_credit(adv_N, components, weights, valid_N, out, tok, g, group_size):
    """-> ([N, M] advantages, metrics): R's advantage up to each row's `</REASONING>`, after it the
    advantage of R without the reasoning-only terms (personax.rl.segments)."""
    after_N = after_reasoning(components, weights)
    if g.filter.truncated == "penalize":  # a cut rewrite is the PROMPT's doing too
        after_N = penalize_truncated(after_N, out.stopped_N, g.filter.truncated_reward)[0]
    adv_after_N, m = _group_advantages(after_N, valid_N, g, group_size)
    decode = lambda ids: tok.decode(ids, skip_special_tokens=True)  # noqa: E731
    ends_N = reasoning_token_ends(decode, out.tokens_NxM, out.lengths_N)
    kept = [k for k in m if k.startswith("advantage_") or k == "zero_variance_group_frac"]
    metrics = {f"after_reasoning/{k}": m[k] for k in kept}
    metrics["after_reasoning/split_frac"] = float((ends_N < out.lengths_N).mean())
    # How often the PROMPT's tokens are pushed the way R pushes them: 1 when the profile term never decides.
    moved_N = valid_N & (adv_N != 0)
    agree_N = np.sign(adv_N) == np.sign(np.asarray(adv_after_N))
    metrics["after_reasoning/sign_agreement"] = float(agree_N[moved_N].mean()) if moved_N.any() else math.nan
    return segment_advantages(adv_N, np.asarray(adv_after_N), ends_N, out.tokens_NxM.shape[1]), metrics


def _whole(graphdef, trainable, rngs, frozen):
    from flax import nnx
    return nnx.split(nnx.merge(graphdef, trainable, rngs, frozen))


def _table(rollouts, R_N, n: int) -> str:
    rows = ["| reward | status | rewrite |", "|---|---|---|"]
    for r, reward in list(zip(rollouts.rollouts, R_N))[:n]:
        rows.append(f"| {reward:.3f} | {r.parsed.status} | {r.parsed.prompt[:300].replace('|', '/')} |")
    return "\n".join(rows)
