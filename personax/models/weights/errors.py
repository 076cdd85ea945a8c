"""The one error type of weight loading (it names the file, tensor or field at fault), and config
construction whose errors name the file the config came from.

It is a `UserError` (a bad path, name or file is the user's input), so the CLI prints it
without a traceback; it is also a `ValueError` for library callers.
"""
from typing import Any

from personax.cli import UserError
from personax.models.config import ModelConfig


class ModelLoadError(UserError, ValueError):
    pass


def build_config(source: str, **fields: Any) -> ModelConfig:
    """`ModelConfig(**fields)`, its own consistency errors named after the file they came from."""
    try:
        return ModelConfig(**fields)
    except (ValueError, TypeError) as e:
        raise ModelLoadError(f"{source}: {e}") from None
