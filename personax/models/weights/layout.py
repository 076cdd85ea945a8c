"""Where each personax parameter lives in a Hugging Face checkpoint.

One table serves import and export, so the two directions cannot drift apart.
"""
from __future__ import annotations

import dataclasses

from personax.models.config import ModelConfig


@dataclasses.dataclass(frozen=True)
class Entry:
    path: str  # personax nnx state path, e.g. "layers/0/attn/q/kernel"
    hf: str  # HF tensor name, e.g. "model.layers.0.self_attn.q_proj.weight"
    linear: bool  # torch Linear stores [out, in]; personax kernels are [in, out]


def hf_layout(cfg: ModelConfig) -> list[Entry]:
    entries = [Entry("embed", "model.embed_tokens.weight", False)]
    for i in range(cfg.n_layers):
        p, h = f"layers/{i}", f"model.layers.{i}"
        entries.append(Entry(f"{p}/pre_attn_norm/weight", f"{h}.input_layernorm.weight", False))
        entries += [Entry(f"{p}/attn/{x}/kernel", f"{h}.self_attn.{x}_proj.weight", True) for x in "qkvo"]
        if cfg.qkv_bias:
            entries += [Entry(f"{p}/attn/{x}/bias", f"{h}.self_attn.{x}_proj.bias", False) for x in "qkv"]
        if cfg.qk_norm:
            entries += [Entry(f"{p}/attn/{x}_norm/weight", f"{h}.self_attn.{x}_norm.weight", False) for x in "qk"]
        if cfg.post_norms:
            # Gemma's "post_attention_layernorm" is the sandwich norm on the attention output.
            entries += [Entry(f"{p}/post_attn_norm/weight", f"{h}.post_attention_layernorm.weight", False),
                        Entry(f"{p}/pre_mlp_norm/weight", f"{h}.pre_feedforward_layernorm.weight", False),
                        Entry(f"{p}/post_mlp_norm/weight", f"{h}.post_feedforward_layernorm.weight", False)]
        else:
            entries.append(Entry(f"{p}/pre_mlp_norm/weight", f"{h}.post_attention_layernorm.weight", False))
        entries += [Entry(f"{p}/mlp/{x}/kernel", f"{h}.mlp.{x}_proj.weight", True) for x in ("gate", "up", "down")]
    entries.append(Entry("final_norm/weight", "model.norm.weight", False))
    if not cfg.tie_embeddings:
        entries.append(Entry("lm_head/kernel", "lm_head.weight", True))
    return entries
