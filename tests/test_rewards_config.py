"""The rewards config section and the roles it builds (sim, hosted against a local server, local)."""
import asyncio
import json

import pytest

from personax.eval.judges import LLMJudges
from personax.llm.deployed import ChatDeployed
from personax.llm.local_server import LocalChatServer
from personax.llm.sim.deployed import SimDeployed
from personax.llm.sim.judges import SimJudges
from personax.rewards import build_deployed, build_judges, get_rewards_config, reward_context, reward_fn


def test_defaults_are_the_papers_weights_on_the_sim_world():
    cfg = get_rewards_config()
    assert cfg.weights.to_dict() == {"profile": 0.3, "task_pairwise": 0.7, "format": 0.0}
    assert isinstance(build_deployed(cfg), SimDeployed)
    judges = build_judges(cfg)
    assert isinstance(judges, SimJudges)
    ctx = reward_context(cfg, judges, step=3)
    assert ctx.sim is judges and ctx.step == 3 and ctx.concurrency == cfg.concurrency
    assert callable(reward_fn(cfg))


def test_hosted_roles_talk_to_the_configured_endpoint():
    def responder(request):
        if request["messages"][0]["role"] == "system":
            return json.dumps({"reasoning": "fine", "score": 6})
        return "a hosted answer"

    with LocalChatServer(responder=responder, models=("deployed-m", "judge-m")) as server:
        cfg = get_rewards_config()
        for role, model in (("deployed", "deployed-m"), ("judge", "judge-m")):
            cfg[role].backend = "hosted"
            cfg[role].llm.update(base_url=server.base_url, api_key_env="", models=((model, 1.0),))
        deployed, judges = build_deployed(cfg), build_judges(cfg)
        assert isinstance(deployed, ChatDeployed) and isinstance(judges, LLMJudges)

        async def go():
            return await deployed.answer("hello"), await judges.task_completion("hello", "a hosted answer")

        assert asyncio.run(go()) == ("a hosted answer", 6.0)
        assert [r["model"] for r in server.received] == ["deployed-m", "judge-m"]
        assert server.received[1]["temperature"] == 0.0 and server.received[0]["temperature"] == 0.7


def test_local_backend_takes_the_callers_client_and_warns_on_a_shared_model():
    cfg = get_rewards_config()
    cfg.deployed.backend = cfg.judge.backend = "local"
    # Without a client passed in, `llm.models` must name a checkpoint personax can load.
    with pytest.raises(ValueError, match="unknown model 'gpt-4o-mini'"):
        build_deployed(cfg)
    client = object()
    assert build_deployed(cfg, local_deployed=client).client is client
    cfg.judge.llm.models = (("gpt-4o-mini", 1.0),)  # the deployed model's name
    with pytest.warns(UserWarning, match="also the deployed model"):
        build_judges(cfg, local_judge=client)


def test_bad_role_settings_are_named():
    cfg = get_rewards_config()
    cfg.judge.backend = "remote"
    with pytest.raises(ValueError, match=r"rewards.judge.backend must be one of \('sim', 'hosted', 'local'\)"):
        build_judges(cfg)
    cfg.deployed.backend = "hosted"
    cfg.deployed.llm.models = (("m1", 1.0), ("m2", 1.0))
    with pytest.raises(ValueError, match="rewards.deployed.llm.models must name exactly one model"):
        build_deployed(cfg)
    cfg = get_rewards_config()
    cfg.weights.sim_oracle = 1.0
    with pytest.raises(KeyError, match="unknown reward 'sim_oracle'"):
        reward_fn(cfg)
