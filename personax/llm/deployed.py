"""The deployed LLM: the frozen model whose answers PPOpt's rewrites steer (SPEC §2.3).

Implementations: `ChatDeployed` over any ChatClient (hosted or local), and the sim world's
`personax.llm.sim.deployed.SimDeployed`.
"""
from __future__ import annotations

from typing import Protocol

from personax.llm.base import ChatClient, ChatRequest, Message

# What a failed role call raises (retries exhausted, a local model's refusal of a too-long prompt,
# a broken connection); callers record these per item instead of aborting a whole batch.
CALL_FAILURES = (RuntimeError, ValueError, OSError)


class DeployedLLM(Protocol):
    async def answer(self, prompt: str, sample_index: int = 0) -> str: ...


class ChatDeployed:
    """The prompt is the only message: a user turn with no system prompt, as a user would send it."""

    def __init__(self, client: ChatClient, model: str, *, temperature: float = 0.7,
                 top_p: float | None = None, max_tokens: int | None = None):
        self.client, self.model = client, model
        self.temperature, self.top_p, self.max_tokens = temperature, top_p, max_tokens

    async def answer(self, prompt: str, sample_index: int = 0) -> str:
        if not prompt.strip():
            raise ValueError("deployed LLM: the prompt is empty (the policy output should have fallen "
                             "back to the original query)")
        request = ChatRequest(messages=(Message("user", prompt),), model=self.model,
                              temperature=self.temperature, top_p=self.top_p, max_tokens=self.max_tokens,
                              module="deployed", sample_index=sample_index)
        return (await self.client.chat(request)).text
