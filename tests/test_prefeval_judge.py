"""The four-check PrefEval judge against a real local OpenAI-compatible server: verdicts, unreadable
replies and failed calls (counted, never guessed), and how the checks make `follows`."""
import asyncio
import json

import pytest

from personax.eval.prefeval.judge import CHECKS, SYSTEMS, FourCheckJudge, follows, parse_verdict
from personax.llm.config import make_chat_client, role_config
from personax.llm.local_server import FaultPlan, LocalChatServer

PREFERENCE = "I avoid hotels with a bustling nightlife atmosphere."
QUESTION = "Can you suggest some great hotels for my trip to Las Vegas?"


def check_of(request) -> str:
    system = request["messages"][0]["content"]
    return next(name for name, text in SYSTEMS.items() if text == system)


def keyword_judge(request) -> str:
    """Reads the answer like a strict judge would: passes quiet, preference-aware answers."""
    answer = request["messages"][-1]["content"].split("[Answer]\n")[1]
    verdict = {"violates": "nightclub" in answer, "acknowledges": "quiet" in answer,
               "hallucinates": "vegan" in answer, "helpful": "hotel" in answer.lower()}[check_of(request)]
    return f'```json\n{{"reasoning": "checked", "verdict": "{"Yes" if verdict else "No."}"}}\n```'


def judge_for(server, **overrides) -> FourCheckJudge:
    role = role_config(base_url=server.base_url, api_key_env="", models="judge-model", backoff_base_s=0.001,
                       max_retries=0, **overrides)
    return FourCheckJudge(make_chat_client(role), "judge-model")


def test_four_checks_decide_follows():
    with LocalChatServer(responder=keyword_judge) as server:
        judge = judge_for(server)

        async def go():
            return await asyncio.gather(
                judge.judge(PREFERENCE, QUESTION, "Since you like it quiet: the Vdara hotel, no casino."),
                judge.judge(PREFERENCE, QUESTION, "Try the MGM Grand hotel with its nightclub."),
                judge.judge(PREFERENCE, QUESTION, "As a vegan who likes it quiet, try the Vdara hotel."),
                judge.judge(PREFERENCE, QUESTION, "I cannot help with that."))

        good, loud, invented, refusal = asyncio.run(go())
    assert good == {"checks": {"violates": False, "acknowledges": True, "hallucinates": False, "helpful": True},
                    "follows": True}
    assert loud["follows"] is False and loud["checks"]["violates"] is True
    assert invented["follows"] is False and invented["checks"]["hallucinates"] is True
    assert refusal["follows"] is False and refusal["checks"]["helpful"] is False
    assert judge.stats["violates/calls"] == 4 and server.stats.requests == 16
    request = server.received[0]
    assert request["temperature"] == 0.0 and PREFERENCE in request["messages"][1]["content"]
    assert QUESTION in request["messages"][1]["content"]


def test_unreadable_and_failed_checks_are_counted_not_guessed():
    def replies(request):
        return {"violates": "I think it is fine.",  # no JSON, and none after the repair round-trip
                "acknowledges": json.dumps({"verdict": "somewhat"}),
                "hallucinates": json.dumps({"verdict": False}),
                "helpful": json.dumps({"verdict": "yes"})}[check_of(request)]
    with LocalChatServer(responder=replies) as server:
        judge = judge_for(server)
        result = asyncio.run(judge.judge(PREFERENCE, QUESTION, "Vdara."))
    assert result == {"checks": {"violates": None, "acknowledges": None, "hallucinates": False, "helpful": True},
                      "follows": None}
    assert judge.stats["violates/unparseable"] == 1 and judge.stats["acknowledges/unparseable"] == 1
    assert server.stats.requests == 5  # one repair for the reply without JSON

    faults = FaultPlan(script=["server_error"])  # the first call fails; retries are off
    with LocalChatServer(responder=keyword_judge, faults=faults) as server:
        judge = judge_for(server, concurrency=1)
        result = asyncio.run(judge.judge(PREFERENCE, QUESTION, "Try the MGM Grand hotel with its nightclub."))
    assert sum(v is None for v in result["checks"].values()) == 1
    assert sum(judge.stats[f"{c}/failed"] for c in CHECKS) == 1
    assert result["follows"] is False  # the violation alone settles it, whatever the failed check says


@pytest.mark.parametrize("value,expected", [
    ("yes", True), ("No.", False), (" YES ", True), ("[[no]]", False), (True, True), (False, False),
    ("maybe", None), ("yes and no", None), ("", None), (1, None), (None, None)])
def test_parse_verdict(value, expected):
    assert parse_verdict(value) is expected


def test_follows_needs_every_check_passed():
    passing = {name: want for name, (_, want) in CHECKS.items()}
    assert follows(passing) is True
    assert follows({**passing, "acknowledges": False}) is False
    assert follows({**passing, "helpful": None}) is None
    assert follows({**passing, "helpful": None, "violates": True}) is False
