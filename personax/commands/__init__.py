"""CLI subcommands; each module has `add_arguments(parser)` and `run(args) -> int`."""
from __future__ import annotations

from personax.cli import UserError


def load_model_and_tokenizer(name_or_path: str, dtype: str | None = None):
    """A model by registered name or path, with its tokenizer; user-facing errors, no traceback."""
    from personax.models import hub

    model, cfg, tokenizer = hub.load(name_or_path, param_dtype=dtype, dtype=dtype)
    if tokenizer is None:
        raise UserError(f"{name_or_path}: no tokenizer ships with these weights (expected tokenizer.json or "
                        f"tokenizer.model beside them, or tokenizer metadata in the GGUF file)")
    return model, cfg, tokenizer
