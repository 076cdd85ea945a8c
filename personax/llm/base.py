"""The chat interface every LLM-backed role talks through.

A role (style transfer, user simulator, assistant, distractor, teacher, deployed LLM,
judge) renders its prompt into a `ChatRequest` and hands it to a `ChatClient`. Backends:
hosted (OpenAI-compatible HTTP), local (a personax model run by the JAX sampler).
The procedural sim world implements the roles themselves, not this interface.
"""
from __future__ import annotations

import dataclasses
from typing import Protocol


@dataclasses.dataclass(frozen=True)
class Message:
    role: str  # "system" | "user" | "assistant"
    content: str


@dataclasses.dataclass(frozen=True)
class ChatRequest:
    messages: tuple[Message, ...]
    model: str
    temperature: float = 0.7
    top_p: float | None = None
    max_tokens: int | None = None
    json_mode: bool = False
    # Which module asked (e.g. "user_simulator"): used for token/cost accounting only.
    module: str = ""
    # Distinguishes otherwise identical requests that must not share a cache entry
    # (e.g. the k-th sample of the same prompt); part of the cache key.
    sample_index: int = 0


@dataclasses.dataclass(frozen=True)
class ChatResponse:
    text: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: bool = False


class ChatClient(Protocol):
    async def chat(self, request: ChatRequest) -> ChatResponse: ...
