"""The rewards section of an experiment config, and the deployed LLM and judges it names.

Each role has `backend`: "sim" (the procedural world), "hosted" (an OpenAI-compatible endpoint,
settings in `llm`, built by `personax.llm.config.make_chat_client`) or "local" (a personax model
served by `personax.llm.local.LocalChatClient`: the checkpoint `llm.models` names, or a client the
caller passes in, e.g. one over the GRPO trainer's own weights).
"""
from __future__ import annotations

from typing import Mapping

import ml_collections

from personax.eval.judges import Judges, LLMJudges
from personax.llm.accounting import Accounting
from personax.llm.base import ChatClient
from personax.llm.config import make_chat_client, role_config
from personax.llm.deployed import ChatDeployed, DeployedLLM
from personax.llm.pool import parse_models
from personax.llm.sim.deployed import SimDeployed
from personax.llm.sim.judges import SimJudges
from personax.rewards.base import RewardContext
from personax.rewards.combine import DEFAULT_WEIGHTS, Combined, combine
from personax.rewards.learned import get_learned_rm_config

BACKENDS = ("sim", "hosted", "local")


def get_rewards_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    # Registered reward name -> λ; 0 logs a component without adding it to R.
    c.weights = ml_collections.ConfigDict({**DEFAULT_WEIGHTS, "format": 0.0})
    c.seed = 0  # the pairwise A/B draw
    c.concurrency = 16  # judge and deployed calls in flight
    c.deployed = ml_collections.ConfigDict(dict(
        backend="sim",
        sim=ml_collections.ConfigDict(dict(seed=0, cue_reliability=0.5)),
        llm=role_config(models=(("gpt-4o-mini", 1.0),), temperature=0.7, max_tokens=1024),
    ))
    c.learned_rm = get_learned_rm_config()  # used when weights.learned_rm != 0
    c.judge = ml_collections.ConfigDict(dict(
        backend="sim",
        json_mode=True,  # ask the endpoint for a JSON object; turn off where response_format is refused
        llm=role_config(models=(("gpt-4o", 1.0),), temperature=0.0, max_tokens=512),
    ))
    return c


def _backend(role: ml_collections.ConfigDict, name: str) -> str:
    if role.backend not in BACKENDS:
        raise ValueError(f"rewards.{name}.backend must be one of {BACKENDS}, got {role.backend!r}")
    return role.backend


def role_model(role: ml_collections.ConfigDict, name: str) -> str:
    models = parse_models(role.llm.models)
    if len(models) != 1:
        raise ValueError(f"rewards.{name}.llm.models must name exactly one model (the {name} is one "
                         f"fixed model), got {[m for m, _ in models]}")
    return models[0][0]


def _client(role: ml_collections.ConfigDict, name: str, local_client: ChatClient | None,
            accounting: Accounting | None) -> ChatClient:
    if role.backend == "hosted":
        return make_chat_client(role.llm, accounting)
    if local_client is not None:
        return local_client
    # A personax model named by `llm.models` (registered name or path), served by the JAX sampler.
    from personax.llm.local import client_from_role_config
    return client_from_role_config(role.llm, accounting)


def build_deployed(cfg: ml_collections.ConfigDict, *, local_deployed: ChatClient | None = None,
                   accounting: Accounting | None = None) -> DeployedLLM:
    role = cfg.deployed
    if _backend(role, "deployed") == "sim":
        return SimDeployed(seed=role.sim.seed, cue_reliability=role.sim.cue_reliability)
    model = role_model(role, "deployed")  # checked before any client is built
    return ChatDeployed(_client(role, "deployed", local_deployed, accounting), model,
                        temperature=role.llm.temperature, top_p=role.llm.top_p, max_tokens=role.llm.max_tokens)


def build_judges(cfg: ml_collections.ConfigDict, *, local_judge: ChatClient | None = None,
                 accounting: Accounting | None = None) -> Judges:
    role = cfg.judge
    if _backend(role, "judge") == "sim":
        return SimJudges()
    deployed = None if _backend(cfg.deployed, "deployed") == "sim" else role_model(cfg.deployed, "deployed")
    model = role_model(role, "judge")
    return LLMJudges(_client(role, "judge", local_judge, accounting), model,
                     deployed_model=deployed, json_mode=role.json_mode, max_tokens=role.llm.max_tokens)


def reward_fn(cfg: ml_collections.ConfigDict) -> Combined:
    return combine(dict(cfg.weights.to_dict()))


def reward_context(cfg: ml_collections.ConfigDict, judges: Judges | None, step: int = 0,
                   learned_rm=None, deployed: DeployedLLM | None = None) -> RewardContext:
    sim = judges if isinstance(judges, SimJudges) else None
    sim_deployed = deployed if isinstance(deployed, SimDeployed) else None
    return RewardContext(judges=judges, sim=sim, sim_deployed=sim_deployed, seed=cfg.seed, step=step,
                         concurrency=cfg.concurrency, learned_rm=learned_rm)
