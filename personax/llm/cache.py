"""On-disk response cache: one JSON file per request, keyed by a hash of the full request.

Writes go to a temporary file in the same directory and are renamed into place, so a reader
(another task, thread or process) sees either no entry or a complete one. Two processes that
miss on the same key at once may both pay for the call; the later rename wins and both
entries are equally valid.
"""
from __future__ import annotations

import hashlib
import json
import os
import pathlib
from typing import Any

from personax.llm import atomic
from personax.llm.base import ChatRequest, ChatResponse

_FORMAT_VERSION = 1


def request_fields(base_url: str, request: ChatRequest, model: str) -> dict[str, Any]:
    """Everything that determines an answer; the API key is deliberately not part of it."""
    return {
        "v": _FORMAT_VERSION,
        "base_url": base_url.rstrip("/"),
        "model": model,
        "messages": [[m.role, m.content] for m in request.messages],
        "temperature": request.temperature,
        "top_p": request.top_p,
        "max_tokens": request.max_tokens,
        "json_mode": request.json_mode,
        "sample_index": request.sample_index,
    }


def request_key(fields: dict[str, Any]) -> str:
    canonical = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class ResponseCache:
    def __init__(self, directory: str | os.PathLike):
        self.directory = pathlib.Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> pathlib.Path:
        # Two-level fan-out keeps directories small for runs with millions of calls.
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> ChatResponse | None:
        path = self._path(key)
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
            answer = entry["response"]
            return ChatResponse(
                text=answer["text"],
                model=answer["model"],
                prompt_tokens=int(answer["prompt_tokens"]),
                completion_tokens=int(answer["completion_tokens"]),
                cached=True,
            )
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError) as err:
            raise ValueError(
                f"corrupt response-cache entry {path}: {err!r}; delete the file to refetch it"
            ) from err

    def put(self, key: str, fields: dict[str, Any], response: ChatResponse) -> None:
        entry = {
            "request": fields,
            "response": {
                "text": response.text,
                "model": response.model,
                "prompt_tokens": response.prompt_tokens,
                "completion_tokens": response.completion_tokens,
            },
        }
        atomic.write_json(self._path(key), entry)

    def __len__(self) -> int:
        return sum(1 for _ in self.directory.glob("*/*.json"))
