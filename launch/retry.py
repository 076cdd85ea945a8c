"""Retries with exponential backoff: a failed or preempted attempt is run again; the workers resume
from the last checkpoint in the shared workdir, so a retry continues instead of restarting."""
from __future__ import annotations

import time
from typing import Callable


def backoff_delays(retries: int, first_s: float, factor: float, max_s: float) -> list[float]:
    if retries < 0 or first_s < 0 or factor < 1 or max_s < 0:
        raise ValueError(f"retries ({retries}), backoff_s ({first_s}) and max_backoff_s ({max_s}) must be >= 0 "
                         f"and backoff_factor ({factor}) >= 1")
    return [min(first_s * factor ** i, max_s) for i in range(retries)]


def config_delays(lc) -> list[float]:
    """The backoff before each retry, from a launch config's retries / backoff_s / backoff_factor / max_backoff_s."""
    return backoff_delays(lc.retries, lc.backoff_s, lc.backoff_factor, lc.max_backoff_s)


def with_retries(attempt: Callable[[int], int], delays: list[float], log: Callable[[str], None] = print,
                 sleep: Callable[[float], None] = time.sleep, before_retry: Callable[[int], None] | None = None) -> int:
    """Runs `attempt(i)` (returns an exit code) until it returns 0 or the retries run out."""
    for i in range(len(delays) + 1):
        code = attempt(i)
        if code == 0:
            return 0
        if i == len(delays):
            log(f"launch: attempt {i + 1} failed (exit {code}); no retries left")
            return code
        log(f"launch: attempt {i + 1} failed (exit {code}); retry {i + 1}/{len(delays)} in {delays[i]:.0f} s")
        sleep(delays[i])
        if before_retry is not None:
            before_retry(i + 1)
    return 1
