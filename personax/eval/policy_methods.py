"""The PPOpt policy as an evaluation method: zero-shot, after SFT, after GRPO, and the ablations (SPEC §2.4-2.5).

The policy reads each state text and rewrites greedily on the KV-cache sampler, a fixed-shape batch at
a time (one compile per method); only the parsed PROMPT goes to the deployed LLM.
"""
from __future__ import annotations

import pathlib
from typing import Sequence

import jax
import numpy as np
from flax import nnx

from personax.data.examples import PPOptExample
from personax.data.policy_io import parse_output
from personax.data.tokenize import prompt_ids
from personax.eval.harness import fingerprint
from personax.eval.methods import MethodContext, MethodOutput, MethodSkipped, method
from personax.sampler import SamplingParams, generate, left_pad
from personax.sharding import MeshConfig, make_mesh, shard_state
from personax.train.checkpoint import Checkpointer
from personax.train.policy_init import load_policy
from personax.train.stages import STAGES, lineage


def _checkpoint(workdir: pathlib.Path, stage: str) -> tuple[int, int | None]:
    """(latest step, its commit time) of the stage's checkpoints."""
    path = workdir / stage / "checkpoints"
    ckpt = Checkpointer(str(path), max_to_keep=None) if path.is_dir() else None
    step = ckpt.latest_step() if ckpt else None
    if step is None:
        raise MethodSkipped(f"no {stage} checkpoint in {path}; run `personax {stage}` first")
    return step, ckpt.commit_time_ns(step)


def _lengths(cfg) -> tuple[int, int]:
    """(prompt tokens kept, new tokens) the evaluation samples with, before the model's max_seq_len caps them."""
    p = cfg.eval.policy
    return p.max_prompt_len or cfg.grpo.max_prompt_len, p.max_new_tokens or cfg.grpo.sampling.max_new_tokens


def _version(stage: str):
    """`model/init+sft@S+grpo@G #<checkpoints> prompt P new N`: the rewrites change with the model, each
    checkpoint of the lineage (a stage retrained and saved at the same step is another checkpoint) and the
    sampling lengths, so items scored under any other of these are scored again."""
    def version(ctx: MethodContext) -> str:
        base = f"{ctx.cfg.model.name}/{ctx.cfg.model.init}"
        chain = [] if stage == "zero_shot" else lineage(stage)
        checkpoints = [(s.name, *_checkpoint(ctx.workdir, s.name)) for s in chain]
        steps = "+".join([base] + [f"{name}@{step}" for name, step, _ in checkpoints])
        ids = fingerprint(*[f"{name}@{step}:{stamp}" for name, step, stamp in checkpoints])[:12]
        max_prompt, max_new = _lengths(ctx.cfg)
        return f"{steps} #{ids} prompt {max_prompt} new {max_new}"
    return version


def sample_rewrites(model, tok, examples: Sequence[PPOptExample], ctx: MethodContext) -> list[str]:
    """Greedy completions of the policy for every state, batch by batch; rows padding the last batch
    repeat the first state and are dropped."""
    p = ctx.cfg.eval.policy
    max_prompt, max_new = _lengths(ctx.cfg)
    max_prompt = min(max_prompt, model.cfg.max_seq_len - max_new)
    if max_prompt < 1:
        raise ValueError(f"eval.policy.max_new_tokens={max_new} leaves no room for a prompt in the model's "
                         f"max_seq_len={model.cfg.max_seq_len}")
    ids = [prompt_ids(tok, e)[-max_prompt:] for e in examples]
    width = max(len(i) for i in ids)
    params = SamplingParams(max_new_tokens=max_new, greedy=True, stop_ids=tuple(tok.stop_token_ids))
    graphdef, state = nnx.split(model)
    state = shard_state(state, make_mesh(MeshConfig(**ctx.cfg.mesh)))
    texts: list[str] = []
    for start in range(0, len(ids), p.batch_size):
        chunk = ids[start:start + p.batch_size]
        tokens_BxP, valid_BxP = left_pad(chunk + [chunk[0]] * (p.batch_size - len(chunk)), tok.pad_id or 0, width)
        out = generate(graphdef, state, tokens_BxP, valid_BxP, jax.random.key(0), params)
        tokens_NxM, lengths_N = np.asarray(out.tokens_NxM), np.asarray(out.lengths_N)
        texts += [tok.decode(tokens_NxM[i, :lengths_N[i]].tolist(), skip_special_tokens=True)
                  for i in range(len(chunk))]
    return texts


def _prompts(stage: str):
    async def prompts(examples, ctx: MethodContext) -> list[MethodOutput]:
        key = f"policy/{stage}"  # loaded once per run: robustness points reuse it
        if key not in ctx.memo:
            ctx.memo[key] = load_policy(ctx.cfg, ctx.workdir, stage)
        model, tok = ctx.memo[key]
        outputs = []
        for e, text in zip(examples, sample_rewrites(model, tok, examples, ctx)):
            parsed = parse_output(text, e.original_query)
            outputs.append(MethodOutput(parsed.prompt, parsed.status, {"profile": parsed.reasoning, "raw": text}))
        return outputs
    return prompts


# eval method -> the policy stage it samples (SPEC §2.5: PPOpt stages and the ablations)
POLICY_METHODS = {"ppopt_zero_shot": "zero_shot", "ppopt_sft": "sft", "ppopt_grpo": "grpo",
                  "ppopt_task_only": "grpo_task_only", "ppopt_no_profile": "grpo_no_profile"}


def _stage_pairs() -> tuple[tuple[str, str], ...]:
    """(before, after) method pairs whose paired gains the report shows: each evaluated training stage
    against the stage it starts from (zero-shot for a stage with no `init`), when that one is evaluated too."""
    method_of = {stage: name for name, stage in POLICY_METHODS.items()}
    starts = {name: STAGES[stage].init or "zero_shot" for name, stage in POLICY_METHODS.items() if stage in STAGES}
    return tuple((method_of[start], name) for name, start in starts.items() if start in method_of)


STAGE_PAIRS = _stage_pairs()

for _name, _stage in POLICY_METHODS.items():
    method(_name, version=_version(_stage))(_prompts(_stage))
