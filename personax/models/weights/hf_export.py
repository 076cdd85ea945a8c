"""Write a personax model as an HF folder (`config.json` + `model.safetensors`, torch layout).

LoRA adapters are merged into a clone first (the caller's model keeps its adapters: arrays are
immutable, so the clone shares every untouched weight).
"""
from __future__ import annotations

import json
import pathlib
import shutil

import jax
import numpy as np
from flax import nnx
from safetensors.numpy import save_file

from personax.models.lora import has_lora, merge_lora
from personax.models.transformer import DecoderLM
from personax.models.weights.errors import ModelLoadError
from personax.models.weights.hf_config_write import check_expressible, config_to_hf
from personax.models.weights.layout import hf_layout
from personax.tokenizers import BPETokenizer, Tokenizer, save_hf_tokenizer
from personax.treepath import path_str

# What transformers reads beside a sentencepiece `tokenizer.model`.
_SENTENCEPIECE_FILES = ("tokenizer.model", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json")


def hf_tensors(model: DecoderLM) -> dict[str, np.ndarray]:
    """The model's weights under HF names, in torch layout; adapters merged."""
    if has_lora(model):
        model = nnx.clone(model)
        merge_lora(model)
    params = {path_str(p): x for p, x in jax.tree_util.tree_leaves_with_path(nnx.state(model, nnx.Param))}
    out = {}
    for e in hf_layout(model.cfg):
        x = np.asarray(params[e.path])
        out[e.hf] = np.ascontiguousarray(x.T if e.linear else x)
    return out


def save_tokenizer(tokenizer: Tokenizer, out_dir: pathlib.Path) -> list[pathlib.Path]:
    """Byte-level BPE is re-exported (it may come from a GGUF); sentencepiece is copied from its folder."""
    if isinstance(tokenizer, BPETokenizer):
        return save_hf_tokenizer(tokenizer, out_dir)
    source = pathlib.Path(tokenizer.source)
    if source.name != "tokenizer.model" or not source.is_file():
        raise ModelLoadError(f"cannot export the tokenizer from {tokenizer.source}: only byte-level BPE "
                             "tokenizers and an HF folder's tokenizer.model are supported")
    copies = [source.parent / f for f in _SENTENCEPIECE_FILES if (source.parent / f).is_file()]
    return [pathlib.Path(shutil.copy(f, out_dir / f.name)) for f in copies]


def save_hf(model: DecoderLM, out_dir: pathlib.Path, tokenizer: Tokenizer | None = None) -> list[pathlib.Path]:
    """Writes config.json, model.safetensors and (given one) the tokenizer; returns the written files."""
    if not isinstance(model, DecoderLM):
        raise ModelLoadError(f"only a DecoderLM exports to HF, got {type(model).__name__}")
    hf = config_to_hf(model.cfg)
    check_expressible(model.cfg, hf)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / "config.json", out_dir / "model.safetensors"]
    save_file(hf_tensors(model), str(written[1]), metadata={"format": "pt"})
    written[0].write_text(json.dumps(hf, indent=2) + "\n")
    return written + (save_tokenizer(tokenizer, out_dir) if tokenizer is not None else [])
