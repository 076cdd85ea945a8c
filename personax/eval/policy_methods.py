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
from personax.eval.methods import MethodContext, MethodOutput, MethodSkipped, method
from personax.sampler import SamplingParams, generate, left_pad
from personax.sharding import MeshConfig, make_mesh, shard_state
from personax.train.checkpoint import Checkpointer
from personax.train.policy_init import load_policy
from personax.train.stages import STAGES, lineage


def _latest_step(workdir: pathlib.Path, stage: str) -> int:
    path = workdir / stage / "checkpoints"
    step = Checkpointer(str(path), max_to_keep=None).latest_step() if path.is_dir() else None
    if step is None:
        raise MethodSkipped(f"no {stage} checkpoint in {path}; run `personax {stage}` first")
    return step


def _version(stage: str):
    def version(ctx: MethodContext) -> str:
        base = f"{ctx.cfg.model.name}/{ctx.cfg.model.init}"
        chain = [] if stage == "zero_shot" else lineage(stage)
        return "+".join([base] + [f"{s.name}@{_latest_step(ctx.workdir, s.name)}" for s in chain])
    return version


def sample_rewrites(model, tok, examples: Sequence[PPOptExample], ctx: MethodContext) -> list[str]:
    """Greedy completions of the policy for every state, batch by batch; rows padding the last batch
    repeat the first state and are dropped."""
    p = ctx.cfg.eval.policy
    max_new = p.max_new_tokens or ctx.cfg.grpo.sampling.max_new_tokens
    max_prompt = min(p.max_prompt_len or ctx.cfg.grpo.max_prompt_len, model.cfg.max_seq_len - max_new)
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
        key = f"policy/{_version(stage)(ctx)}"  # loaded once per run: robustness points reuse it
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
