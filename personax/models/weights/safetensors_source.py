"""Tensors of an HF folder: `model.safetensors`, or shards listed in `model.safetensors.index.json`.

Tensors are read one at a time (memory-mapped by safetensors), so a large checkpoint never sits
in host memory twice. Names are exposed in text-model form (`model.layers.0...`, `lm_head.weight`);
a multimodal Gemma 3 checkpoint's language-model prefix is stripped here.
"""
from __future__ import annotations

import json
import pathlib

import numpy as np
from safetensors import SafetensorError, safe_open

from personax.models.weights.errors import ModelLoadError

INDEX = "model.safetensors.index.json"
SINGLE = "model.safetensors"
# (prefix in the file, prefix personax reads): transformers 5 and 4 layouts of Gemma3ForConditionalGeneration.
_TEXT_PREFIXES = (("model.language_model.", "model."), ("language_model.model.", "model."),
                  ("language_model.lm_head.", "lm_head."), ("lm_head.", "lm_head."))


class SafetensorsSource:
    def __init__(self, folder: pathlib.Path):
        self.origin = str(folder)
        self._files = _weight_files(folder)  # tensor name in the file -> file
        self._open: dict[pathlib.Path, object] = {}
        self._alias = _text_aliases(self._files)

    def names(self) -> set[str]:
        return set(self._alias)

    def _handle(self, name: str):
        path = self._files[self._alias[name]]
        if path not in self._open:
            try:
                self._open[path] = safe_open(str(path), framework="numpy")
            except (SafetensorError, OSError) as e:
                raise ModelLoadError(f"{path}: not a readable safetensors file ({e})") from None
        return self._open[path]

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(self._handle(name).get_slice(self._alias[name]).get_shape())

    def get(self, name: str) -> np.ndarray:
        try:
            return self._handle(name).get_tensor(self._alias[name])
        except (SafetensorError, OSError) as e:
            raise ModelLoadError(f"{self.origin}: cannot read tensor {name!r} ({e})") from None


def _weight_files(folder: pathlib.Path) -> dict[str, pathlib.Path]:
    index = folder / INDEX
    if index.is_file():
        try:
            weight_map = json.loads(index.read_text())["weight_map"]
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise ModelLoadError(f"{index}: not a valid safetensors index (need a 'weight_map' object: {e})") from None
        missing = sorted({f for f in weight_map.values() if not (folder / f).is_file()})
        if missing:
            raise ModelLoadError(f"{index}: lists shard files that do not exist: {', '.join(missing)}")
        return {name: folder / f for name, f in weight_map.items()}
    single = folder / SINGLE
    if not single.is_file():
        others = sorted(p.name for p in folder.glob("*.bin")) + sorted(p.name for p in folder.glob("*.safetensors"))
        hint = f" (found {', '.join(others)}; only safetensors named as above are read)" if others else ""
        raise ModelLoadError(f"{folder}: no {SINGLE} or {INDEX}{hint}")
    try:
        with safe_open(str(single), framework="numpy") as f:
            return {name: single for name in f.keys()}
    except (SafetensorError, OSError) as e:
        raise ModelLoadError(f"{single}: not a readable safetensors file ({e})") from None


def _text_aliases(files: dict[str, pathlib.Path]) -> dict[str, str]:
    """personax-visible name -> name in the file; only the text model of a multimodal checkpoint."""
    if not any(n.startswith(_TEXT_PREFIXES[0][0]) or n.startswith(_TEXT_PREFIXES[1][0]) for n in files):
        return {n: n for n in files}
    return {new + n[len(old):]: n for n in files for old, new in _TEXT_PREFIXES if n.startswith(old)}
