"""Config files (`get_config()` in a .py file) and `--config.a.b=value` overrides: a field takes its
current type; a whole group takes a dict literal and is replaced by it (`--config.rewards.weights=
"{'profile': 0.3, 'sim_task': 0.7}"`: the only way to add a key from the command line)."""
from __future__ import annotations

import ast
import importlib.util
import pathlib
from typing import Any

import ml_collections


class ConfigError(ValueError):
    pass


def load_config(spec: str) -> ml_collections.ConfigDict:
    """`path.py` or `path.py:arg` (the arg is passed to get_config)."""
    path, _, arg = spec.partition(":")
    file = pathlib.Path(path)
    if not file.is_file():
        raise ConfigError(f"config file {path!r} not found")
    module_spec = importlib.util.spec_from_file_location(f"_personax_config_{file.stem}", file)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    if not hasattr(module, "get_config"):
        raise ConfigError(f"{path} defines no get_config()")
    return module.get_config(arg) if arg else module.get_config()


def _coerce(text: str, current: Any, dotted: str) -> Any:
    if isinstance(current, bool):
        if text.lower() in ("1", "true", "yes"):
            return True
        if text.lower() in ("0", "false", "no"):
            return False
        raise ConfigError(f"--config.{dotted}: expected true/false, got {text!r}")
    if isinstance(current, (int, float)):
        try:
            return type(current)(text) if isinstance(current, float) or text.lstrip("-").isdigit() else int(text)
        except ValueError:
            raise ConfigError(f"--config.{dotted}: expected {type(current).__name__}, got {text!r}") from None
    if isinstance(current, (tuple, list)):
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = [v.strip() for v in text.split(",") if v.strip()]
        return tuple(value) if isinstance(value, (tuple, list)) else (value,)
    if isinstance(current, ml_collections.ConfigDict):  # a whole group, e.g. rewards.weights={'sim_task': 1.0}
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = None
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise ConfigError(f"--config.{dotted}: a config group takes a dict literal with string keys, "
                              f"e.g. {{'name': 1.0}}; got {text!r}")
        return ml_collections.ConfigDict(value)
    return text


def apply_override(cfg: ml_collections.ConfigDict, dotted: str, text: str) -> None:
    *parents, leaf = dotted.split(".")
    node = cfg
    for name in parents:
        if name not in node or not isinstance(node[name], ml_collections.ConfigDict):
            raise ConfigError(f"--config.{dotted}: no config group {name!r}")
        node = node[name]
    if leaf not in node:
        raise ConfigError(f"--config.{dotted}: unknown field; known here: {sorted(node.keys())}")
    current = node[leaf]
    if current is None and node.get_type(leaf) in (bool, int, float):  # a typed placeholder, unset so far
        current = node.get_type(leaf)()
    try:
        node[leaf] = _coerce(text, current, dotted)
    except TypeError as e:
        raise ConfigError(f"--config.{dotted}: {e}") from None


def split_overrides(extra: list[str]) -> tuple[list[tuple[str, str]], list[str]]:
    """(dotted name, value) pairs from `--config.x=v` or `--config.x v`; the rest untouched."""
    pairs, rest, i = [], [], 0
    while i < len(extra):
        arg = extra[i]
        if arg.startswith("--config."):
            name, eq, value = arg[len("--config."):].partition("=")
            if not eq:
                if i + 1 >= len(extra):
                    raise ConfigError(f"{arg}: missing value")
                value, i = extra[i + 1], i + 1
            pairs.append((name, value))
        else:
            rest.append(arg)
        i += 1
    return pairs, rest
