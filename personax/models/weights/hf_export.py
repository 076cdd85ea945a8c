"""Write a personax model as an HF folder (`config.json` + `model.safetensors`, torch layout).

LoRA adapters are merged into a clone first (the caller's model keeps its adapters: arrays are
immutable, so the clone shares every untouched weight). The config is checked by reading it back:
if `config_from_hf(config_to_hf(cfg))` differs from `cfg`, the family's HF class cannot express
this model, and the export is refused with the differing fields named.
"""
from __future__ import annotations

import dataclasses
import json
import pathlib
import shutil
from typing import Any

import jax
import numpy as np
from flax import nnx
from safetensors.numpy import save_file

from personax.models.config import ModelConfig
from personax.models.lora import has_lora, merge_lora
from personax.models.transformer import DecoderLM
from personax.models.weights.errors import ModelLoadError
from personax.models.weights.hf_config import FAMILIES, config_from_hf
from personax.models.weights.layout import hf_layout
from personax.tokenizers import BPETokenizer, Tokenizer, save_hf_tokenizer
from personax.treepath import path_str

# What transformers reads beside a sentencepiece `tokenizer.model`.
_SENTENCEPIECE_FILES = ("tokenizer.model", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json")


def config_to_hf(cfg: ModelConfig) -> dict[str, Any]:
    fam = FAMILIES[cfg.family]
    d: dict[str, Any] = {
        "architectures": [fam.architecture], "model_type": fam.model_type, "vocab_size": cfg.vocab_size,
        "hidden_size": cfg.d_model, "intermediate_size": cfg.ffn_dim, "num_hidden_layers": cfg.n_layers,
        "num_attention_heads": cfg.n_heads, "num_key_value_heads": cfg.n_kv_heads, "head_dim": cfg.head_dim,
        "rms_norm_eps": cfg.norm_eps, "max_position_embeddings": cfg.max_seq_len,
        "tie_word_embeddings": cfg.tie_embeddings, "rope_theta": cfg.rope_theta,
        "torch_dtype": cfg.param_dtype, "bos_token_id": cfg.bos_id, "eos_token_id": cfg.eos_id,
        ("hidden_activation" if fam.gemma else "hidden_act"):
            {"silu": "silu", "gelu_tanh": "gelu_pytorch_tanh"}[cfg.activation],
    }
    s = cfg.rope_scaling
    if s.kind == "linear":
        d["rope_scaling"] = {"rope_type": "linear", "factor": s.factor}
    elif s.kind == "llama3":
        d["rope_scaling"] = {"rope_type": "llama3", "factor": s.factor, "low_freq_factor": s.low_freq_factor,
                             "high_freq_factor": s.high_freq_factor,
                             "original_max_position_embeddings": s.original_max_position}
    if fam.gemma:
        d.update(query_pre_attn_scalar=cfg.query_pre_attn_scalar or cfg.head_dim,
                 attn_logit_softcapping=cfg.attn_logit_softcap, final_logit_softcapping=cfg.final_logit_softcap,
                 sliding_window=cfg.sliding_window, sliding_window_pattern=cfg.sliding_window_pattern,
                 layer_types=[("sliding" if cfg.is_sliding(i) else "full") + "_attention"
                              for i in range(cfg.n_layers)])
    if cfg.family == "gemma3":
        d["rope_local_base_freq"] = cfg.rope_local_theta or cfg.rope_theta
    return d


def _check_expressible(cfg: ModelConfig, hf: dict[str, Any]) -> None:
    back = config_from_hf(hf, "exported config.json")
    fam = FAMILIES[cfg.family]
    window = cfg.sliding_window if cfg.sliding_window and cfg.sliding_window_pattern else None
    # Spellings of the same model: compute dtype is not part of a checkpoint, etc.
    norm = cfg.replace(dtype=cfg.param_dtype, sliding_window=window,
                       sliding_window_pattern=cfg.sliding_window_pattern if window else 0,
                       query_pre_attn_scalar=(cfg.query_pre_attn_scalar or cfg.head_dim) if fam.gemma
                       else cfg.query_pre_attn_scalar,
                       rope_local_theta=(cfg.rope_local_theta or cfg.rope_theta) if cfg.family == "gemma3"
                       else cfg.rope_local_theta)
    diff = [f"{f.name}={getattr(norm, f.name)!r} (HF {fam.architecture} gives {getattr(back, f.name)!r})"
            for f in dataclasses.fields(ModelConfig) if getattr(norm, f.name) != getattr(back, f.name)]
    if diff:
        raise ModelLoadError(f"cannot export this {cfg.family} model to HF: {'; '.join(diff)}")


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
    _check_expressible(model.cfg, hf)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / "config.json", out_dir / "model.safetensors"]
    save_file(hf_tensors(model), str(written[1]), metadata={"format": "pt"})
    written[0].write_text(json.dumps(hf, indent=2) + "\n")
    return written + (save_tokenizer(tokenizer, out_dir) if tokenizer is not None else [])
