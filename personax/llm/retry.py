"""Fault kinds, their classification, and the backoff schedule of the hosted client."""
from __future__ import annotations

import asyncio
import dataclasses
import email.utils
import math
import random
import time
from typing import Mapping

import openai

# Every failed attempt is counted under exactly one of these kinds.
RATE_LIMIT = "rate_limit"  # HTTP 429
SERVER_ERROR = "server_error"  # HTTP 5xx
TIMEOUT = "timeout"  # no answer within timeout_s (or HTTP 408)
CONNECTION = "connection"  # refused, reset, closed without a response
BAD_BODY = "bad_body"  # 200 whose body is not a complete chat-completion JSON
EMPTY = "empty"  # well-formed answer with empty content
CLIENT_ERROR = "client_error"  # other 4xx (bad request, auth): retrying cannot help

RETRYABLE = frozenset({RATE_LIMIT, SERVER_ERROR, TIMEOUT, CONNECTION, BAD_BODY, EMPTY})
FAULT_KINDS = (RATE_LIMIT, SERVER_ERROR, TIMEOUT, CONNECTION, BAD_BODY, EMPTY, CLIENT_ERROR)


class BadResponse(Exception):
    """A 200 answer the client cannot use; `kind` is BAD_BODY or EMPTY."""

    def __init__(self, kind: str, detail: str):
        super().__init__(detail)
        self.kind = kind


class LLMCallError(RuntimeError):
    """A chat request that failed for good (retries exhausted or not retryable)."""

    def __init__(self, *, module: str, model: str, kind: str, attempts: int, detail: str):
        super().__init__(
            f"LLM call failed for module={module or '?'} model={model}: {kind} after "
            f"{attempts} attempt(s); last error: {detail}"
        )
        self.module, self.model, self.kind, self.attempts = module, model, kind, attempts


def classify(exc: BaseException) -> str | None:
    """The fault kind of an exception raised by one attempt, or None if it is not a call fault."""
    if isinstance(exc, BadResponse):
        return exc.kind
    # APITimeoutError subclasses APIConnectionError, so it is tested first; the others come from
    # the client's own bound on a whole attempt.
    if isinstance(exc, (openai.APITimeoutError, TimeoutError, asyncio.TimeoutError)):
        return TIMEOUT
    if isinstance(exc, openai.APIConnectionError):
        return CONNECTION
    if isinstance(exc, openai.APIStatusError):
        if exc.status_code == 429:
            return RATE_LIMIT
        if exc.status_code == 408:
            return TIMEOUT
        if exc.status_code >= 500:
            return SERVER_ERROR
        return CLIENT_ERROR
    return None


def retry_after_s(headers: Mapping[str, str] | None) -> float | None:
    """Seconds the server asked us to wait: `retry-after-ms`, else `retry-after` (seconds or date)."""
    if not headers:
        return None
    for name, scale in (("retry-after-ms", 1e-3), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) * scale
        except ValueError:
            continue
        if math.isfinite(seconds):
            return max(0.0, seconds)
    parsed = email.utils.parsedate_tz(headers.get("retry-after") or "")
    if parsed is None:
        return None
    return max(0.0, email.utils.mktime_tz(parsed) - time.time())


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 6
    backoff_base_s: float = 1.0
    backoff_max_s: float = 60.0
    # A server asking for longer than this is waited on only this long, so one bad header
    # cannot stall a run for hours.
    retry_after_cap_s: float = 120.0

    def __post_init__(self):
        if self.max_retries < 0 or self.backoff_base_s < 0 or self.backoff_max_s < 0:
            raise ValueError(f"RetryPolicy fields must be non-negative, got {self}")

    def delay_s(self, retry_index: int, server_hint_s: float | None, rng: random.Random) -> float:
        """Wait before retry number `retry_index` (0-based).

        Full jitter (uniform in [0, min(cap, base * 2^i)]) spreads synchronized clients apart;
        a server's Retry-After is a floor, since retrying sooner is known to be refused.
        """
        ceiling = min(self.backoff_max_s, self.backoff_base_s * 2.0**retry_index)
        jittered = rng.uniform(0.0, ceiling)
        if server_hint_s is None:
            return jittered
        return max(min(server_hint_s, self.retry_after_cap_s), jittered)
