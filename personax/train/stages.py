"""The training stages a config can name, and the policy each one leaves behind (SPEC §2.5 ablations).

A stage is one SFT or GRPO run writing `WORKDIR/<name>/`. Besides the PPOpt pair (`sft` -> `grpo`)
the table holds the ablations, each a few fields rather than a copy of a trainer:
- `grpo_task_only`: GRPO from the same SFT policy with the task reward alone (λ_prof = 0).
- `sft_no_profile` -> `grpo_no_profile`: the policy is trained to answer with `<PROMPT>…</PROMPT>`
  only (the SFT targets lose their REASONING; the state text is unchanged), then GRPO with the task
  reward alone, since there is no profile to judge.
"""
from __future__ import annotations

import dataclasses
import json
import pathlib
from typing import Literal, Mapping

import ml_collections

from personax.data.examples import PPOptExample
from personax.data.importers import load, to_examples
from personax.data.policy_io import parse_output

TASK_ONLY = {"profile": 0.0, "task_pairwise": 1.0}  # the profile is still judged and logged, not rewarded


@dataclasses.dataclass(frozen=True)
class Stage:
    name: str  # also the directory under WORKDIR
    kind: Literal["sft", "grpo"]
    init: str | None = None  # the stage whose policy this one starts from (GRPO: the KL reference)
    profile: bool = True  # False: targets and rewrites carry no <REASONING> profile
    reward_weights: Mapping[str, float] | None = None  # replaces rewards.weights for this stage


STAGES: dict[str, Stage] = {s.name: s for s in (
    Stage("sft", "sft"),
    Stage("grpo", "grpo", init="sft"),
    Stage("grpo_task_only", "grpo", init="sft", reward_weights=TASK_ONLY),
    Stage("sft_no_profile", "sft", profile=False),
    Stage("grpo_no_profile", "grpo", init="sft_no_profile", profile=False, reward_weights={"task_pairwise": 1.0}),
)}


def get_stage(name: str) -> Stage:
    if name not in STAGES:
        raise ValueError(f"unknown training stage {name!r}; known: {sorted(STAGES)}")
    return STAGES[name]


def lineage(name: str) -> list[Stage]:
    """The stages whose checkpoints make up `name`'s policy, first applied first."""
    chain = [get_stage(name)]
    while chain[0].init is not None:
        chain.insert(0, get_stage(chain[0].init))
    return chain


def stage_config(cfg: ml_collections.ConfigDict, stage: Stage) -> ml_collections.ConfigDict:
    """`cfg` with the stage's reward weights in place (a copy; `cfg` is left as it was)."""
    if stage.reward_weights is None:
        return cfg
    cfg = ml_collections.ConfigDict(cfg.to_dict())
    cfg.rewards.weights = ml_collections.ConfigDict(dict(stage.reward_weights))
    return cfg


def strip_profile(example: PPOptExample) -> PPOptExample:
    """The no-profile SFT target: the same rewrite, without the REASONING block."""
    if example.output is None:
        raise ValueError(f"example {example.state_id!r} has no SFT target to strip")
    prompt = parse_output(example.output, example.original_query).prompt
    return dataclasses.replace(example, output=f"<PROMPT>{prompt}</PROMPT>")


def sft_split(stage: Stage, sft_path: pathlib.Path) -> pathlib.Path:
    """The SFT split file the stage trains on: the data stage's, or its no-profile twin beside it
    (rewritten from the source each time, so it follows the data)."""
    if stage.profile:
        return sft_path
    out = sft_path.with_name(f"{sft_path.stem}_no_profile.jsonl")
    lines = [json.dumps(strip_profile(e).to_json(), ensure_ascii=False) for e in to_examples(load(sft_path, kind="example"))]
    tmp = out.with_suffix(".tmp")
    tmp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    tmp.replace(out)
    return out
