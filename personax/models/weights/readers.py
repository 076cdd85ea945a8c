"""Load a model (or only its config) from an HF folder or a GGUF file."""
from __future__ import annotations

import json
import pathlib
from typing import Any

from gguf import GGUFReader

from personax.models.config import ModelConfig
from personax.models.transformer import DecoderLM
from personax.models.weights.errors import ModelLoadError
from personax.models.weights.fill import Place, load_model
from personax.models.weights.gguf_source import GGUFSource
from personax.models.weights.hf_config import config_from_hf
from personax.models.weights.safetensors_source import SafetensorsSource


def hf_config(folder: pathlib.Path) -> ModelConfig:
    path = folder / "config.json"
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise ModelLoadError(f"{folder}: no config.json (an HF model folder needs one)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ModelLoadError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(raw, dict):
        raise ModelLoadError(f"{path}: expected a JSON object, got {type(raw).__name__}")
    return config_from_hf(raw, str(path))


def gguf_config(path: pathlib.Path) -> ModelConfig:
    return GGUFSource(path).cfg


def load_hf(folder: pathlib.Path, overrides: dict[str, Any] | None = None,
            place: Place | None = None) -> tuple[DecoderLM, ModelConfig]:
    cfg = hf_config(folder).replace(**(overrides or {}))
    return load_model(cfg, SafetensorsSource(folder), place), cfg


def load_gguf(path: pathlib.Path, overrides: dict[str, Any] | None = None, place: Place | None = None,
              reader: GGUFReader | None = None) -> tuple[DecoderLM, ModelConfig]:
    """`reader`: the file already opened (parsing a GGUF's metadata takes seconds)."""
    source = GGUFSource(path, reader)
    cfg = source.cfg.replace(**(overrides or {}))
    return load_model(cfg, source, place), cfg
