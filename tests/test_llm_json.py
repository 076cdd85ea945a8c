"""Tolerant JSON parsing, schema checks and the one repair round-trip."""
import asyncio

import pytest

from personax.llm.base import Message
from personax.llm.config import make_chat_client, role_config
from personax.llm.json_output import (JSONOutputError, chat_json, extract_json_object,
                                      parse_json_reply)
from personax.llm.local_server import LocalChatServer

FEEDBACK = {"satisfied": bool, "feedback": (str, type(None))}


@pytest.mark.parametrize("reply,expected", [
    ('{"a": 1}', {"a": 1}),
    ('```json\n{"a": [1, 2]}\n```', {"a": [1, 2]}),
    ('Sure! Here is the JSON you asked for:\n{"a": "x"}\nHope it helps.', {"a": "x"}),
    ('{"a": [1, 2,], "b": {"c": 3,},}', {"a": [1, 2], "b": {"c": 3}}),
    ('{"a": "brace } and comma ,}" , "b": 2}', {"a": "brace } and comma ,}", "b": 2}),
    ('{"a": "quote \\" inside"}', {"a": 'quote " inside'}),
    ('see {this} first, then {"a": 1} and {"b": 2}', {"a": 1}),
    ('{"a": {"nested": true}} {"b": 2}', {"a": {"nested": True}}),
])
def test_extract_takes_the_first_complete_object(reply, expected):
    assert extract_json_object(reply) == expected


@pytest.mark.parametrize("reply", ["no json here", '{"a": 1', "[1, 2, 3]", ""])
def test_extract_refuses_text_without_an_object(reply):
    with pytest.raises(JSONOutputError, match="no complete JSON object"):
        extract_json_object(reply)


def test_schema_checks_keys_and_types():
    assert parse_json_reply('{"satisfied": false, "feedback": null}', FEEDBACK)["satisfied"] is False
    with pytest.raises(JSONOutputError, match="missing key 'feedback'"):
        parse_json_reply('{"satisfied": true}', FEEDBACK)
    with pytest.raises(JSONOutputError, match="key 'satisfied' should be bool, got str"):
        parse_json_reply('{"satisfied": "yes", "feedback": "ok"}', FEEDBACK)
    with pytest.raises(JSONOutputError, match="key 'n' should be int, got bool"):
        parse_json_reply('{"n": true}', {"n": int})
    assert parse_json_reply('{"x": 3}', {"x": float}) == {"x": 3}


def scripted_responder(replies):
    replies = list(replies)
    return lambda request: replies.pop(0)


def run_chat_json(server, schema):
    cfg = role_config(base_url=server.base_url, api_key_env="", models="local-echo",
                      backoff_base_s=0.001)
    client = make_chat_client(cfg)
    request = client.request([Message("user", "Is this good? Answer in JSON.")], module="user_sim")
    return asyncio.run(chat_json(client, request, schema))


def test_valid_first_reply_needs_no_repair():
    with LocalChatServer(responder=scripted_responder(['{"satisfied": true, "feedback": null}'])) as server:
        value, response = run_chat_json(server, FEEDBACK)
        assert value == {"satisfied": True, "feedback": None}
        assert server.stats.requests == 1
        assert server.received[0]["response_format"] == {"type": "json_object"}


def test_one_repair_retry_shows_the_bad_reply():
    bad, good = "I think it is fine!", 'ok: {"satisfied": false, "feedback": "shorter please"}'
    with LocalChatServer(responder=scripted_responder([bad, good])) as server:
        value, response = run_chat_json(server, FEEDBACK)
        assert value == {"satisfied": False, "feedback": "shorter please"} and response.text == good
        assert server.stats.requests == 2
        repair_messages = server.received[1]["messages"]
        assert repair_messages[-2] == {"role": "assistant", "content": bad}
        assert "no complete JSON object" in repair_messages[-1]["content"]
        assert "satisfied (bool)" in repair_messages[-1]["content"]


def test_still_bad_after_repair_raises_a_clear_error():
    replies = ['{"satisfied": "maybe"}', '{"satisfied": "still maybe"}']
    with LocalChatServer(responder=scripted_responder(replies)) as server:
        with pytest.raises(JSONOutputError, match=r"module=user_sim model=local-echo: no valid JSON "
                                                  r"after one repair retry: .*missing key 'feedback'"):
            run_chat_json(server, FEEDBACK)
        assert server.stats.requests == 2
