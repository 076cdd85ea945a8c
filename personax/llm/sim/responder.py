"""A responder for `personax.llm.local_server`: answers every PersonaGym role prompt with
valid output (JSON where the role asks for it), so the hosted path can be tested and
benchmarked end to end offline. It recognises a role by the JSON keys its prompt asks for."""
from __future__ import annotations

import json
from typing import Any


def _after(text: str, marker: str) -> str:
    return text.split(marker, 1)[1].strip() if marker in text else text


def datagen_responder(request: dict[str, Any]) -> str:
    messages = request.get("messages", [])
    system = next((m["content"] for m in messages if m.get("role") == "system"), "")
    user = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
    if '"adapted_query"' in system:
        query = _after(user, "Seed query:\n")
        return json.dumps({"adapted_query": f"{query} Keep it short please.",
                           "inferred_domain": "general", "inferred_scenario": "casual"})
    if '"satisfied"' in system:
        done = "reached your turn budget" in system
        return json.dumps({"satisfied": done, "feedback": None if done else "Can you go deeper on the first point?"})
    if '"compressed_text"' in system:
        words = user.split()
        return json.dumps({"intent": " ".join(words[:2]), "slots": words[2:5], "compressed_text": " ".join(words[:5])})
    if '"noisy_text"' in system:
        text = _after(user, "Message:\n").split("\n\nExtracted semantics:", 1)[0]
        return json.dumps({"noisy_text": f"{text} (sorry, typing on my phone)"})
    if '"value"' in system:
        return json.dumps({"value": "custom_value"})
    return "Here is a general answer: start with the basics, compare the options, then check the result."
