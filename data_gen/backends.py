"""Builds the five PersonaGym roles from config: `roles.<name>.backend` is "sim" or "hosted".

Sim roles do not go through a ChatClient, so their calls are recorded here with words counted
as tokens; hosted clients record their own (tokens, cost, retries, failures).
"""
from __future__ import annotations

import asyncio
import dataclasses
import functools
import time
from typing import Any, Callable

import ml_collections

from data_gen import llm_roles
from data_gen.roles import Roles
from personax.llm.accounting import Accounting
from personax.llm.base import Message
from personax.llm.cache import ResponseCache
from personax.llm.sim.assistant import SimAssistant
from personax.llm.sim.distractor import SimDistractor
from personax.llm.sim.others import SimOthersResolver
from personax.llm.sim.user import SimStyleTransfer, SimUserSimulator

ROLE_NAMES = ("style", "user", "assistant", "distractor", "others")
# Module names in the token report.
MODULES = {"style": "style_transfer", "user": "user_simulator", "assistant": "assistant",
           "distractor": "distractor", "others": "others_resolution"}
SIMULATION_MODULES = ("user_simulator", "assistant")

SIM: dict[str, Callable[[int, float], Any]] = {
    "style": lambda seed, scale: SimStyleTransfer(seed, scale),
    "user": lambda seed, scale: SimUserSimulator(seed, scale),
    "assistant": lambda seed, scale: SimAssistant(seed),
    "distractor": lambda seed, scale: SimDistractor(seed),
    "others": lambda seed, scale: SimOthersResolver(seed),
}
HOSTED = {"style": llm_roles.LLMStyleTransfer, "user": llm_roles.LLMUserSimulator,
          "assistant": llm_roles.LLMAssistant, "distractor": llm_roles.LLMDistractor,
          "others": llm_roles.LLMOthersResolver}


class BackendError(ValueError):
    """A role cannot be built from its config (the message names the role)."""


def _words(value: Any) -> int:
    if isinstance(value, str):
        return len(value.split())
    if isinstance(value, Message):
        return _words(value.content)
    if isinstance(value, dict):
        return sum(_words(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(_words(v) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return sum(_words(getattr(value, f.name)) for f in dataclasses.fields(value))
    return 0


class Counted:
    """Wraps a sim role: every async method call is recorded as one call of `module`."""

    def __init__(self, role: Any, module: str, model: str, accounting: Accounting, latency_s: float = 0.0):
        self._role, self._module, self._model, self._acc = role, module, model, accounting
        self._latency_s = latency_s  # a stand-in for network time (kill/resume tests, benchmarks)

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._role, name)

        @functools.wraps(method)
        async def call(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            if self._latency_s:
                await asyncio.sleep(self._latency_s)
            result = await method(*args, **kwargs)
            model = args[0] if name == "reply" else self._model
            self._acc.record_call(self._module, model, _words(list(args) + list(kwargs.values())),
                                  _words(result), time.perf_counter() - start)
            return result
        return call


def build_roles(cfg: ml_collections.ConfigDict, accounting: Accounting,
                cache: ResponseCache | None) -> tuple[Roles, list[Any]]:
    """The roles, and the hosted clients among them (to be closed when the run ends)."""
    built, clients = {}, []
    for name in ROLE_NAMES:
        role_cfg = cfg.roles[name]
        if role_cfg.backend == "sim":
            built[name] = Counted(SIM[name](cfg.seed, cfg.sim.express_scale), MODULES[name], "sim", accounting,
                                  cfg.sim.latency_s)
        elif role_cfg.backend == "hosted":
            from personax.llm.config import make_chat_client  # imports the openai SDK

            try:
                clients.append(make_chat_client(role_cfg, accounting, cache))
            except (RuntimeError, ValueError, KeyError) as e:  # missing key, bad pool, bad field
                raise BackendError(f"roles.{name}: {e}") from None
            built[name] = HOSTED[name](clients[-1], MODULES[name])
        else:
            raise BackendError(f"roles.{name}.backend must be 'sim' or 'hosted', got {role_cfg.backend!r}")
    return Roles(**built), clients
