"""Fault injection plans for the local chat server: scripted, or seeded random draws."""
from __future__ import annotations

import collections
import random
import threading
from typing import Sequence

# Server-side fault names and what the client sees:
#   rate_limit -> 429 with Retry-After        server_error -> 500    unavailable -> 503
#   timeout    -> no answer until the client gives up (held `hang_s`, then closed)
#   disconnect -> connection closed without a response
#   truncated  -> 200 whose JSON body is cut in half     non_json -> 200 with an HTML page
#   empty      -> 200 with a well-formed completion whose content is ""
FAULTS = ("rate_limit", "server_error", "unavailable", "timeout", "disconnect", "truncated",
          "non_json", "empty")


class FaultPlan:
    """Which fault (or None) each arriving request gets: first the `script` in arrival order,
    then independent draws from `probs` ({fault: probability}) with a seeded generator."""

    def __init__(self, script: Sequence[str | None] = (), probs: dict[str, float] | None = None,
                 seed: int = 0):
        probs = dict(probs or {})
        for name in [f for f in script if f is not None] + list(probs):
            if name not in FAULTS:
                raise ValueError(f"unknown fault {name!r}; expected one of {FAULTS}")
        if sum(probs.values()) > 1.0 + 1e-9 or any(p < 0 for p in probs.values()):
            raise ValueError(f"fault probabilities must be >= 0 and sum to <= 1, got {probs}")
        self._script = collections.deque(script)
        self._probs = sorted(probs.items())
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    @classmethod
    def mixed(cls, rate: float, seed: int = 0) -> "FaultPlan":
        """Every fault kind, equally likely, on a `rate` fraction of requests."""
        return cls(probs={f: rate / len(FAULTS) for f in FAULTS}, seed=seed)

    def next(self) -> str | None:
        with self._lock:
            if self._script:
                return self._script.popleft()
            u, cumulative = self._rng.random(), 0.0
            for name, p in self._probs:
                cumulative += p
                if u < cumulative:
                    return name
            return None
