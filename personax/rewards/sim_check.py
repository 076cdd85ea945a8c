"""How much reward the sim world offers (sim world only): every reward component for three fixed
policies on a sim PersonaAtlas, so the RL stage's headroom is known before training.

    python -m personax.rewards.sim_check /tmp/sim_small/personaatlas.jsonl [--teacher-best-of K]

- copy: no profile, the original query unchanged (what an untrained rewriter tends to do);
- teacher: the sim privileged teacher's label (the SFT target; the best of K draws with `--teacher-best-of`);
- oracle: every true trait named, with its most reliable instruction phrasing.
"""
from __future__ import annotations

import argparse
import asyncio
import json

from personax.data.examples import PPOptExample, build_examples
from personax.data.importers import load
from personax.data.policy_io import format_target
from personax.llm.sim.deployed import SimDeployed
from personax.llm.sim.judges import SimJudges
from personax.llm.sim.teacher import SimTeacher
from personax.llm.sim.text import sentence
from personax.llm.sim.world import World
from personax.rewards.base import RewardContext
from personax.rewards.batch import rollout_batch
from personax.rewards.combine import DEFAULT_WEIGHTS, combine


def oracle_completion(world: World, example: PPOptExample) -> str:
    traits = [(world.traits[d], v) for d, v in sorted(example.persona.items()) if d in world.traits]
    profile = "; ".join(f"{t.label}: {t.phrase(v)}" for t, v in traits)
    asks = [t.instructions_for(v)[0].text for t, v in traits if t.instructions]
    return format_target(profile, " ".join([sentence(example.original_query), *asks]))


def completions(policy: str, examples: list[PPOptExample], world: World, seed: int, best_of: int = 1) -> list[str]:
    if policy == "copy":
        return [f"<REASONING></REASONING><PROMPT>{e.original_query}</PROMPT>" for e in examples]
    if policy == "teacher":
        teacher = SimTeacher(seed=seed, world=world, best_of=best_of)
        labels = [teacher.label(e.persona, list(e.history_texts), e.original_query) for e in examples]
        return [format_target(label.reasoning, label.optimized_query) for label in labels]
    return [oracle_completion(world, e) for e in examples]


async def check(examples: list[PPOptExample], seed: int = 0, best_of: int = 1) -> dict[str, dict[str, float]]:
    judges, deployed = SimJudges(), SimDeployed(seed=seed)
    total = combine({**DEFAULT_WEIGHTS, "format": 0.0, "sim_personalization": 0.0,
                     "sim_personalization_expected": 0.0, "sim_task": 0.0})
    out = {}
    for policy in ("copy", "teacher", "oracle"):
        batch = await rollout_batch(examples, completions(policy, examples, judges.world, seed, best_of), deployed)
        _, _, metrics = await total(batch, RewardContext(judges=judges, sim=judges, sim_deployed=deployed, seed=seed))
        out[policy] = {k.removeprefix("reward/"): round(v, 4) for k, v in metrics.items()
                       if k.endswith(("/mean", "original_mean", "win_frac", "tie_frac"))}
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("atlas", help="a PersonaAtlas file (released or rich JSONL) from the sim world")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--teacher-best-of", type=int, default=1, help="the teacher's labels: best of K draws")
    args = parser.parse_args(argv)
    examples, _ = build_examples(load(args.atlas).records)
    print(f"{len(examples)} states (sim world only)")
    print(json.dumps(asyncio.run(check(examples, args.seed, args.teacher_best_of)), indent=1))


if __name__ == "__main__":
    main()
