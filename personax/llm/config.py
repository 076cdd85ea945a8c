"""One role's hosted-LLM settings as a ConfigDict, and the factory that turns them into a client."""
from __future__ import annotations

import os
from typing import Any

import ml_collections
from ml_collections import config_dict

from personax.llm.accounting import Accounting
from personax.llm.cache import ResponseCache
from personax.llm.hosted import HostedChatClient
from personax.llm.pool import ModelPool, parse_models
from personax.llm.retry import RetryPolicy


def role_config(**overrides: Any) -> ml_collections.ConfigDict:
    """Defaults for one LLM role; `overrides` replace fields (unknown names are an error)."""
    cfg = ml_collections.ConfigDict(dict(
        base_url="https://api.openai.com/v1",
        # Name of the environment variable holding the key ("" for keyless local servers).
        api_key_env="OPENAI_API_KEY",
        # (name, weight) pairs, bare names, or "name=weight,name" (see pool.parse_models).
        models=(("gpt-4o-mini", 1.0),),
        seed=0,  # model draws and retry jitter
        temperature=0.7,
        top_p=config_dict.placeholder(float),
        max_tokens=config_dict.placeholder(int),
        # OpenAI's reasoning models want "max_completion_tokens"; most other servers "max_tokens".
        max_tokens_param="max_tokens",
        concurrency=8,
        timeout_s=60.0,
        max_retries=6,
        backoff_base_s=1.0,
        backoff_max_s=60.0,
        retry_after_cap_s=120.0,
        cache_dir="",  # "" disables the response cache
        # (model, USD per 1M prompt tokens, USD per 1M completion tokens)
        prices=(),
    ))
    for name, value in overrides.items():
        if name not in cfg:
            raise KeyError(f"role_config: unknown field {name!r}; known: {sorted(cfg.keys())}")
        # Normalised so a "name=weight,..." string fits the tuple-typed field.
        cfg[name] = parse_models(value) if name == "models" else value
    return cfg


def _field(cfg: ml_collections.ConfigDict, name: str) -> Any:
    if name not in cfg:
        raise KeyError(f"LLM role config lacks field {name!r}; build it with llm.config.role_config()")
    return cfg[name]


def read_api_key(api_key_env: str) -> str | None:
    if not api_key_env:
        return None
    key = os.environ.get(api_key_env)
    if not key:
        raise RuntimeError(f"environment variable {api_key_env} (the role's api_key_env) is not "
                           "set; export the API key there, or set api_key_env='' for a keyless server")
    return key


def make_chat_client(role_cfg: ml_collections.ConfigDict, accounting: Accounting | None = None,
                     cache: ResponseCache | None = None) -> HostedChatClient:
    """A client for one role. Pass one `accounting` (and `cache`) to every role of a run so the
    report covers them all; without `cache`, the role's own `cache_dir` (if any) is used."""
    if accounting is None:
        accounting = Accounting()
    accounting.add_prices(_field(role_cfg, "prices"))
    cache_dir = _field(role_cfg, "cache_dir")
    if cache is None and cache_dir:
        cache = ResponseCache(cache_dir)
    policy = RetryPolicy(
        max_retries=int(_field(role_cfg, "max_retries")),
        backoff_base_s=float(_field(role_cfg, "backoff_base_s")),
        backoff_max_s=float(_field(role_cfg, "backoff_max_s")),
        retry_after_cap_s=float(_field(role_cfg, "retry_after_cap_s")),
    )
    return HostedChatClient(
        base_url=_field(role_cfg, "base_url"),
        api_key=read_api_key(_field(role_cfg, "api_key_env")),
        pool=ModelPool.from_spec(_field(role_cfg, "models"), seed=int(_field(role_cfg, "seed"))),
        accounting=accounting,
        cache=cache,
        concurrency=int(_field(role_cfg, "concurrency")),
        timeout_s=float(_field(role_cfg, "timeout_s")),
        policy=policy,
        max_tokens_param=_field(role_cfg, "max_tokens_param"),
        seed=int(_field(role_cfg, "seed")),
        request_defaults={name: _field(role_cfg, name) for name in ("temperature", "top_p", "max_tokens")},
    )
