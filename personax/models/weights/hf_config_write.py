"""`ModelConfig` -> Hugging Face `config.json`, checked by reading it back.

The keys are the transformers 4 spellings (`rope_theta`, `rope_scaling`, `rope_local_base_freq`,
`torch_dtype`), which transformers 5 also reads; Gemma gets `layer_types` as well. If
`config_from_hf(config_to_hf(cfg))` differs from `cfg`, the family's HF class cannot express the
model, and export is refused with the differing fields named.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from personax.models.config import ModelConfig
from personax.models.weights.errors import ModelLoadError
from personax.models.weights.families import FAMILIES
from personax.models.weights.hf_config import config_from_hf


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


def check_expressible(cfg: ModelConfig, hf: dict[str, Any]) -> None:
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
