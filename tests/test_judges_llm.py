"""LLM judges and the LLM deployed model against a real local OpenAI-compatible server."""
import asyncio
import json
import math
import re

import pytest

from personax.eval.judges import LLMJudges, parse_score, parse_winner
from personax.eval.judges_prompts import PAIRWISE_SYSTEM, PROFILE_SYSTEM
from personax.llm.config import make_chat_client, role_config
from personax.llm.deployed import ChatDeployed
from personax.llm.local_server import FaultPlan, LocalChatServer

PERSONA = {"length_pref": "brief", "format_pref_primary": "table"}
QUERY = "Plan a weekend in Lisbon."


def client_for(server, **overrides):
    fields = dict(base_url=server.base_url, api_key_env="", models="local-echo", backoff_base_s=0.001, max_retries=0)
    return make_chat_client(role_config(**{**fields, **overrides}))


def judge_responder(request):
    """A judge that reads its instructions: scores by keyword, picks the answer that has a table."""
    system, user = request["messages"][0]["content"], request["messages"][-1]["content"]
    if system == PAIRWISE_SYSTEM:
        a = re.search(r"\[Answer A\]\n(.*?)\n\[End of answer A\]", user, re.S).group(1)
        b = re.search(r"\[Answer B\]\n(.*?)\n\[End of answer B\]", user, re.S).group(1)
        winner = "tie" if ("table" in a) == ("table" in b) else "A" if "table" in a else "B"
        return f'Sure.\n```json\n{{"reasoning": "one has a table", "winner": "Answer {winner}"}}\n```'
    if system == PROFILE_SYSTEM:
        return json.dumps({"reasoning": "ok", "score": 4 if "table" in user.split("Inferred profile:")[1] else 2})
    return json.dumps({"reasoning": "ok", "score": "8/10"})


def run(coro):
    return asyncio.run(coro)


def test_llm_judges_score_parse_and_ask_at_temperature_zero():
    with LocalChatServer(responder=judge_responder) as server:
        judges = LLMJudges(client_for(server), "local-echo", deployed_model="other-model")

        async def go():
            return (await judges.profile("likes a table", PERSONA), await judges.profile("no idea", PERSONA),
                    await judges.personalization(PERSONA, QUERY, "an answer"),
                    await judges.task_completion(QUERY, "an answer"),
                    await judges.pairwise(PERSONA, QUERY, "a table here", "prose"),
                    await judges.pairwise(PERSONA, QUERY, "prose", "a table here"),
                    await judges.pairwise(PERSONA, QUERY, "prose", "more prose"))

        assert run(go()) == (4.0, 2.0, 8.0, 8.0, "A", "B", "tie")
        assert all(r["temperature"] == 0.0 for r in server.received)
        first = server.received[0]["messages"]
        assert [m["role"] for m in first] == ["system", "user"]
        assert "- format pref primary: table" in first[1]["content"]
        task_request = server.received[3]["messages"][1]["content"]
        assert "format pref primary" not in task_request  # the task judge sees the query only
        assert judges.stats["profile/calls"] == 2 and not any("unparseable" in k for k in judges.stats)


def test_unparseable_replies_are_nan_and_counted():
    replies = iter(["I'd say it is good.", "Still no JSON, sorry.",  # profile: no JSON, even after the repair
                    '{"score": 11}',  # personalization: out of the 1..10 scale
                    '{"winner": "both are great"}',  # pairwise: no verdict
                    '{"score": "excellent"}'])  # task: not a number
    with LocalChatServer(responder=lambda request: next(replies)) as server:
        judges = LLMJudges(client_for(server), "local-echo")

        async def go():
            return (await judges.profile("p", PERSONA), await judges.personalization(PERSONA, QUERY, "x"),
                    await judges.pairwise(PERSONA, QUERY, "x", "y"), await judges.task_completion(QUERY, "x"))

        profile, personal, winner, task = run(go())
        assert math.isnan(profile) and math.isnan(personal) and winner is None and math.isnan(task)
        assert server.stats.requests == 5  # one repair round-trip for the reply with no JSON
        assert {k: v for k, v in judges.stats.items() if "unparseable" in k} == {
            "profile/unparseable": 1, "personalization/unparseable": 1, "pairwise/unparseable": 1,
            "task_completion/unparseable": 1}


def test_failed_calls_are_nan_and_counted():
    faults = FaultPlan(script=["server_error", "server_error"])
    with LocalChatServer(responder=judge_responder, faults=faults) as server:
        judges = LLMJudges(client_for(server), "local-echo")

        async def go():
            return await judges.task_completion(QUERY, "x"), await judges.pairwise(PERSONA, QUERY, "x", "y")

        task, winner = run(go())
        assert math.isnan(task) and winner is None
        assert judges.stats["task_completion/failed"] == 1 and judges.stats["pairwise/failed"] == 1


def test_judge_warns_when_it_is_the_deployed_model():
    with pytest.warns(UserWarning, match="also the deployed model"):
        LLMJudges(client=None, model="gpt-4o-mini", deployed_model="gpt-4o-mini")


@pytest.mark.parametrize("value,expected", [
    (7, 7.0), (7.5, 7.5), ("7", 7.0), ("7/10", 7.0), (" 9 out of 10", 9.0), (0, None), (11, None),
    (True, None), ("seven", None), (None, None)])
def test_parse_score(value, expected):
    assert parse_score(value, 1, 10) == expected


@pytest.mark.parametrize("value,expected", [
    ("A", "A"), ("b", "B"), ("Answer A", "A"), ("[[B]]", "B"), ("Tie.", "tie"), ("draw", "tie"),
    ("A and B", None), ("", None), (1, None), ("C", None)])
def test_parse_winner(value, expected):
    assert parse_winner(value) == expected


def test_chat_deployed_sends_the_prompt_alone_as_a_user_message():
    with LocalChatServer() as server:  # echoes the last user message
        deployed = ChatDeployed(client_for(server), "local-echo", temperature=0.3, max_tokens=64)
        assert run(deployed.answer("Plan a weekend in Lisbon. Format the answer as a table.", sample_index=2)) == \
            "echo: Plan a weekend in Lisbon. Format the answer as a table."
        request = server.received[0]
        assert request["messages"] == [
            {"role": "user", "content": "Plan a weekend in Lisbon. Format the answer as a table."}]
        assert request["temperature"] == 0.3 and request["max_tokens"] == 64
        with pytest.raises(ValueError, match="prompt is empty"):
            run(deployed.answer("  "))
