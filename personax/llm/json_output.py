"""JSON answers from chat models: tolerant parsing, schema checks, one repair round-trip."""
from __future__ import annotations

import dataclasses
import json
import re
from typing import Any, Mapping

from personax.llm.base import ChatClient, ChatRequest, ChatResponse, Message

# {key: type or tuple of types}; use type(None) in a tuple for a nullable field.
Schema = Mapping[str, type | tuple[type, ...]]

REPAIR_PROMPT = (
    "Your previous reply could not be used: {problem}. Reply again with exactly one JSON object "
    "and nothing else, with these keys: {keys}."
)


_CLOSER_AHEAD = re.compile(r"\s*[}\]]")


class JSONOutputError(ValueError):
    pass


def _balanced_object(text: str, start: int) -> str | None:
    """The object opening at text[start] up to its matching brace, with trailing commas dropped;
    None if the text ends first."""
    out, depth, in_string, escaped = [], 0, False, False
    for i in range(start, len(text)):
        ch = text[i]
        if in_string:
            out.append(ch)
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
            continue
        if ch == "," and _CLOSER_AHEAD.match(text, i + 1):
            continue  # a trailing comma, which JSON forbids and models often write
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
        out.append(ch)
        if depth == 0:
            return "".join(out)
    return None


def extract_json_object(text: str) -> dict[str, Any]:
    """The first complete JSON object in `text`, ignoring code fences and surrounding prose."""
    start = text.find("{")
    while start != -1:
        candidate = _balanced_object(text, start)
        if candidate is not None:
            try:
                value = json.loads(candidate)
            except ValueError:
                value = None
            if isinstance(value, dict):
                return value
        start = text.find("{", start + 1)
    raise JSONOutputError(f"no complete JSON object found in the reply ({len(text)} chars)")


def _type_ok(value: Any, expected: type | tuple[type, ...]) -> bool:
    expected = expected if isinstance(expected, tuple) else (expected,)
    if isinstance(value, bool):  # bool is an int to Python, never to a schema
        return bool in expected
    if isinstance(value, int) and float in expected:
        return True
    return isinstance(value, expected)


def _type_names(expected: type | tuple[type, ...]) -> str:
    expected = expected if isinstance(expected, tuple) else (expected,)
    return " or ".join("null" if t is type(None) else t.__name__ for t in expected)


def validate(obj: dict[str, Any], schema: Schema) -> dict[str, Any]:
    problems = []
    for key, expected in schema.items():
        if key not in obj:
            problems.append(f"missing key {key!r}")
        elif not _type_ok(obj[key], expected):
            problems.append(f"key {key!r} should be {_type_names(expected)}, "
                            f"got {type(obj[key]).__name__}")
    if problems:
        raise JSONOutputError("; ".join(problems))
    return obj


def parse_json_reply(text: str, schema: Schema) -> dict[str, Any]:
    return validate(extract_json_object(text), schema)


async def chat_json(client: ChatClient, request: ChatRequest, schema: Schema, *,
                    json_mode: bool = True) -> tuple[dict[str, Any], ChatResponse]:
    """Ask for a JSON object; if the reply is unusable, show it to the model once and ask again.

    With json_mode the endpoint is asked for a JSON object (OpenAI requires the word "JSON" in the
    prompt then); turn it off for endpoints that reject `response_format`.
    """
    request = dataclasses.replace(request, json_mode=json_mode)
    first = await client.chat(request)
    try:
        return parse_json_reply(first.text, schema), first
    except JSONOutputError as problem:
        keys = ", ".join(f"{k} ({_type_names(t)})" for k, t in schema.items())
        repair = dataclasses.replace(request, messages=request.messages + (
            Message("assistant", first.text),
            Message("user", REPAIR_PROMPT.format(problem=problem, keys=keys)),
        ))
    second = await client.chat(repair)
    try:
        return parse_json_reply(second.text, schema), second
    except JSONOutputError as problem:
        raise JSONOutputError(
            f"module={request.module or '?'} model={request.model}: no valid JSON after one repair "
            f"retry: {problem}; last reply starts {second.text[:160]!r}"
        ) from None
