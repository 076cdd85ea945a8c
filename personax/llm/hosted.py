"""ChatClient over any OpenAI-compatible endpoint, with retries, a cache and accounting."""
from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import random
import time
from typing import Any, Mapping

import openai

from personax.llm import retry
from personax.llm.accounting import Accounting
from personax.llm.base import ChatRequest, ChatResponse, Message
from personax.llm.cache import ResponseCache, request_fields, request_key
from personax.llm.pool import ModelPool

log = logging.getLogger(__name__)


def parse_completion(body: str) -> tuple[str, int, int]:
    """(content, prompt_tokens, completion_tokens) of a chat-completion body, or BadResponse."""
    try:
        data = json.loads(body)
    except ValueError:
        raise retry.BadResponse(retry.BAD_BODY, f"body is not JSON ({len(body)} chars): {body[:80]!r}") from None
    try:
        message = data["choices"][0]["message"]
    except (KeyError, IndexError, TypeError):
        raise retry.BadResponse(retry.BAD_BODY, f"no choices[0].message in body: {body[:120]!r}") from None
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, list):  # some servers send content as typed parts
        content = "".join(part.get("text") or "" for part in content if isinstance(part, dict))
    if not isinstance(content, str) or not content.strip():
        raise retry.BadResponse(retry.EMPTY, f"empty content (finish_reason="
                                f"{data['choices'][0].get('finish_reason')!r})")
    usage = data.get("usage") or {}
    return content, int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)


class HostedChatClient:
    """One role's client. Create it anywhere; it binds to the event loop it is first used in
    (and rebinds if later used from another loop, e.g. a second `asyncio.run`)."""

    def __init__(self, *, base_url: str, api_key: str | None, pool: ModelPool,
                 accounting: Accounting | None = None, cache: ResponseCache | None = None,
                 concurrency: int = 8, timeout_s: float = 60.0,
                 policy: retry.RetryPolicy = retry.RetryPolicy(),
                 max_tokens_param: str = "max_tokens", seed: int = 0,
                 request_defaults: Mapping[str, Any] | None = None):
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        self.base_url = base_url.rstrip("/")
        # Private, and passed only to the SDK: never in repr, cache fields, reports or messages.
        self._api_key = api_key or "not-needed"
        self.pool = pool
        self.accounting = accounting if accounting is not None else Accounting()
        self.cache = cache
        self.concurrency = concurrency
        self.timeout_s = timeout_s
        self.policy = policy
        self.max_tokens_param = max_tokens_param
        self._rng = random.Random(seed)
        # The role's sampling settings (temperature, top_p, max_tokens) used by `request()`.
        self.request_defaults = dict(request_defaults or {})
        self._loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return f"HostedChatClient(base_url={self.base_url!r}, models={self.pool.names})"

    def _bind_loop(self) -> None:
        loop = asyncio.get_running_loop()
        if loop is self._loop:
            return
        self._loop = loop
        # max_retries=0: our loop is the only retry layer, so every retry is seen and counted.
        self._sdk = openai.AsyncOpenAI(base_url=self.base_url, api_key=self._api_key,
                                       timeout=self.timeout_s, max_retries=0)
        self._slots = asyncio.Semaphore(self.concurrency)
        # Identical requests in flight at once share one HTTP call (only when caching, since
        # the cache is what declares identical requests interchangeable).
        self._inflight: dict[str, asyncio.Future[ChatResponse]] = {}

    async def aclose(self) -> None:
        if self._loop is asyncio.get_running_loop():
            await self._sdk.close()
            self._loop = None

    def request(self, messages: list[Message] | tuple[Message, ...], *, module: str,
                pool_key: str | int | None = None, **fields: Any) -> ChatRequest:
        """A request whose model is drawn from the pool by `pool_key` (e.g. the conversation id,
        so that every turn of a conversation talks to the same model). `fields` override the
        role's sampling defaults."""
        model = self._sole_model() if pool_key is None else self.pool.choose(pool_key)
        return ChatRequest(messages=tuple(messages), model=model, module=module,
                           **{**self.request_defaults, **fields})

    def _sole_model(self) -> str:
        if len(self.pool.entries) > 1:
            raise ValueError(f"this role's pool has {len(self.pool.entries)} models {self.pool.names}; "
                             "name the model or pass a pool_key (e.g. the conversation id) to draw one")
        return self.pool.names[0]

    async def chat(self, request: ChatRequest) -> ChatResponse:
        self._bind_loop()
        model = request.model or self._sole_model()
        if self.cache is None:
            return await self._call_with_retries(request, model)
        fields = request_fields(self.base_url, request, model)
        key = request_key(fields)
        hit = await self._cached_or_shared(key)
        if hit is not None:
            self.accounting.record_cache_hit(request.module, model, hit.prompt_tokens,
                                             hit.completion_tokens)
            return hit
        future = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            response = await self._call_with_retries(request, model)
            try:
                self.cache.put(key, fields, response)
            except OSError as err:  # a paid answer is worth more than its cache entry
                log.warning("could not cache a %s answer (%s); a rerun will pay for it again",
                            request.module or "?", err)
            future.set_result(response)
            return response
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as err:
            future.set_exception(err)
            future.exception()  # marks it retrieved: there may be no waiter
            raise
        finally:
            del self._inflight[key]

    async def _cached_or_shared(self, key: str) -> ChatResponse | None:
        """The cached answer, or that of an identical call already in flight; None: call."""
        while (hit := self.cache.get(key)) is None and key in self._inflight:
            pending = self._inflight[key]
            await asyncio.wait({pending})
            if pending.cancelled():
                continue  # the task making the call was cancelled: make it ourselves
            if pending.exception() is not None:
                raise pending.exception()
            return dataclasses.replace(pending.result(), cached=True)
        return hit

    async def _call_with_retries(self, request: ChatRequest, model: str) -> ChatResponse:
        for attempt in range(self.policy.max_retries + 1):
            try:
                return await self._attempt(request, model)
            except Exception as err:
                kind = retry.classify(err)
                if kind is None:
                    raise
                will_retry = kind in retry.RETRYABLE and attempt < self.policy.max_retries
                self.accounting.record_fault(request.module, model, kind, will_retry=will_retry)
                if not will_retry:
                    raise retry.LLMCallError(module=request.module, model=model, kind=kind,
                                             attempts=attempt + 1, detail=_describe(err)) from None
                hint = retry.retry_after_s(getattr(getattr(err, "response", None), "headers", None))
                delay = self.policy.delay_s(attempt, hint, self._rng)
                log.info("%s call to %s failed (%s, attempt %d/%d); retrying in %.2fs",
                         request.module or "?", model, kind, attempt + 1,
                         self.policy.max_retries + 1, delay)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable: the last attempt either returns or raises")

    async def _attempt(self, request: ChatRequest, model: str) -> ChatResponse:
        kwargs: dict[str, Any] = {
            "model": model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "temperature": request.temperature,
        }
        if request.top_p is not None:
            kwargs["top_p"] = request.top_p
        if request.max_tokens is not None:
            kwargs[self.max_tokens_param] = request.max_tokens
        if request.json_mode:
            kwargs["response_format"] = {"type": "json_object"}
        async with self._slots:
            start = time.perf_counter()
            # The SDK's timeout bounds each connect/read/write phase; wait_for bounds the whole
            # attempt, so a server that trickles bytes cannot hold a slot forever.
            raw = await asyncio.wait_for(
                self._sdk.chat.completions.with_raw_response.create(**kwargs), self.timeout_s)
            body = raw.text
            latency = time.perf_counter() - start
        text, prompt_tokens, completion_tokens = parse_completion(body)
        self.accounting.record_call(request.module, model, prompt_tokens, completion_tokens, latency)
        return ChatResponse(text, model, prompt_tokens, completion_tokens)


def _describe(err: Exception) -> str:
    if isinstance(err, openai.APIStatusError):
        return f"HTTP {err.status_code}: {str(err)[:200]}"
    return f"{type(err).__name__}: {str(err)[:200]}"
