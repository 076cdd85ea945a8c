"""Hugging Face `config.json` -> `ModelConfig`.

Reads both the transformers 4 keys (`rope_theta`, `rope_scaling`, `rope_local_base_freq`,
`sliding_window_pattern`, `torch_dtype`) and the transformers 5 ones (`rope_parameters`, possibly
per layer type, `layer_types`, `dtype`). Anything personax cannot run exactly is refused by name.
"""
from __future__ import annotations

from typing import Any

from personax.models.config import ModelConfig, RopeScaling
from personax.models.weights.errors import ModelLoadError, build_config
from personax.models.weights.families import FAMILIES


_BY_MODEL_TYPE = {f.model_type: name for name, f in FAMILIES.items()}
_ACTIVATIONS = {"silu": "silu", "gelu_pytorch_tanh": "gelu_tanh", "gelu_tanh": "gelu_tanh"}
_DTYPES = {"float32": "float32", "bfloat16": "bfloat16", "float16": "float32"}  # f16 widened: exact


def text_config(d: dict[str, Any]) -> dict[str, Any]:
    """The language-model part of a config (a multimodal Gemma 3 nests it in `text_config`)."""
    if d.get("model_type") == "gemma3" and isinstance(d.get("text_config"), dict):
        return {"model_type": "gemma3_text", **d["text_config"]}
    return d


def config_from_hf(raw: dict[str, Any], source: str) -> ModelConfig:
    d = text_config(raw)
    model_type = d.get("model_type")
    if model_type not in _BY_MODEL_TYPE:
        raise ModelLoadError(f"{source}: unsupported model_type {model_type!r}; supported: "
                             f"{', '.join(sorted(_BY_MODEL_TYPE))} (and multimodal 'gemma3', text part)")
    family = _BY_MODEL_TYPE[model_type]
    fam = FAMILIES[family]

    def need(key: str) -> Any:
        if key not in d:
            raise ModelLoadError(f"{source}: config field {key!r} is missing (model_type {model_type!r})")
        return d[key]

    def refuse(key: str, why: str) -> None:
        if d.get(key):
            raise ModelLoadError(f"{source}: {key}={d[key]!r} is not supported ({why})")

    refuse("mlp_bias", "personax MLPs have no bias")
    if family != "qwen2":  # Qwen2 always has q/k/v biases; elsewhere the flag also biases o_proj
        refuse("attention_bias", "personax has q/k/v biases only, for Qwen2")
    refuse("use_sliding_window", "Qwen sliding-window layers are not implemented")
    act_name = d.get("hidden_activation") or d.get("hidden_act") or ("gelu_pytorch_tanh" if fam.gemma else "silu")
    if act_name not in _ACTIVATIONS:
        raise ModelLoadError(f"{source}: activation {act_name!r} is not supported; use one of {sorted(_ACTIVATIONS)}")
    d_model, n_heads = need("hidden_size"), need("num_attention_heads")
    n_layers = need("num_hidden_layers")
    theta, scaling, local_theta = _rope(d, family, source)
    dtype = d.get("dtype") or d.get("torch_dtype") or "float32"
    if dtype not in _DTYPES:
        raise ModelLoadError(f"{source}: dtype {dtype!r} is not supported; expected one of {sorted(_DTYPES)}")
    window, pattern = _sliding(d, n_layers, 6 if family == "gemma3" else 2, source) if fam.gemma else (None, 0)
    eos = d.get("eos_token_id")
    return build_config(
        source, family=family, vocab_size=need("vocab_size"), d_model=d_model, n_layers=n_layers,
        n_heads=n_heads, n_kv_heads=d.get("num_key_value_heads") or n_heads,
        head_dim=d.get("head_dim") or d_model // n_heads, ffn_dim=need("intermediate_size"),
        rope_theta=theta or fam.theta_default, rope_scaling=scaling, rope_local_theta=local_theta,
        norm_eps=d.get("rms_norm_eps", 1e-6), tie_embeddings=d.get("tie_word_embeddings", fam.tie_default),
        qkv_bias=family == "qwen2", qk_norm=family in ("qwen3", "gemma3"), activation=_ACTIVATIONS[act_name],
        norm_plus_one=fam.gemma, embed_scale=fam.gemma, post_norms=fam.gemma,
        query_pre_attn_scalar=d.get("query_pre_attn_scalar") if fam.gemma else None,
        attn_logit_softcap=d.get("attn_logit_softcapping"), final_logit_softcap=d.get("final_logit_softcapping"),
        sliding_window=window, sliding_window_pattern=pattern,
        max_seq_len=d.get("max_position_embeddings", 4096),
        param_dtype=_DTYPES[dtype], dtype=_DTYPES[dtype],
        bos_id=d.get("bos_token_id"), eos_id=eos[0] if isinstance(eos, list) else eos)


def _rope(d: dict, family: str, source: str) -> tuple[float | None, RopeScaling, float | None]:
    params = d.get("rope_parameters")
    legacy = {**(d.get("rope_scaling") or {}), "rope_theta": d.get("rope_theta")}
    local_theta = None
    if family == "gemma3":
        if isinstance(params, dict) and "full_attention" in params:
            local = params.get("sliding_attention") or {}
            if local.get("rope_type", "default") != "default":
                raise ModelLoadError(f"{source}: scaled RoPE on sliding layers is not supported")
            params, local_theta = params["full_attention"], local.get("rope_theta", 10_000.0)
        else:
            local_theta = d.get("rope_local_base_freq", 10_000.0)
    p = params if isinstance(params, dict) else legacy
    kind = p.get("rope_type") or p.get("type") or "default"
    theta = p.get("rope_theta") or d.get("rope_theta")
    if kind == "default":
        return theta, RopeScaling(), local_theta
    if kind == "linear":
        return theta, RopeScaling("linear", float(p["factor"])), local_theta
    if kind == "llama3":
        return theta, RopeScaling("llama3", float(p["factor"]), float(p["low_freq_factor"]),
                                  float(p["high_freq_factor"]), int(p["original_max_position_embeddings"])), local_theta
    raise ModelLoadError(f"{source}: RoPE type {kind!r} is not supported (default, linear, llama3)")


def _sliding(d: dict, n_layers: int, default_pattern: int, source: str) -> tuple[int | None, int]:
    """Gemma's local/global layer layout as personax's (window, every-p-th-layer-global) pair."""
    window = d.get("sliding_window")
    types = d.get("layer_types")
    if types is None:
        # transformers 4 names the period (Gemma 2 alternates, starting with a local layer).
        p = d.get("sliding_window_pattern") or d.get("_sliding_window_pattern") or default_pattern
        return window, p if window else 0
    if len(types) != n_layers or not set(types) <= {"sliding_attention", "full_attention"}:
        raise ModelLoadError(f"{source}: layer_types must list {n_layers} of sliding_attention|full_attention, "
                             f"got {types!r}")
    sliding = [t == "sliding_attention" for t in types]
    if not any(sliding) or not window:
        return None, 0
    for p in range(2, n_layers + 2):  # p > n_layers: every layer slides
        if all(s == bool((i + 1) % p) for i, s in enumerate(sliding)):
            return window, p
    raise ModelLoadError(f"{source}: layer_types {types!r} is not a repeating local/global pattern ending in a "
                         "global layer, which is the layout personax supports")
