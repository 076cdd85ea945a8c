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


def add_experiment_arguments(p) -> None:
    import pathlib
    p.add_argument("--config", required=True, help="an experiment config file (configs/*.py, or FILE.py:variant)")
    p.add_argument("--workdir", required=True, type=pathlib.Path)


def experiment_config(args):
    """The config file with its `--config.a.b=value` overrides applied; user errors, no traceback."""
    from personax.configfile import ConfigError, apply_override, load_config

    try:
        cfg = load_config(args.config)
        for name, value in args.config_overrides:
            apply_override(cfg, name, value)
    except ConfigError as e:
        raise UserError(str(e)) from None
    return cfg


def summary_line(stage: str, metrics: dict) -> str:
    return f"{stage}: " + " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in metrics.items())
