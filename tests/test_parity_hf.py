"""Logits of personax equal transformers' (torch CPU, f32) on tiny random checkpoints of each family.

Each checkpoint is built with the HF config classes, every weight (norms included) redrawn at a
scale that gives O(1) logits, saved with `save_pretrained` and loaded by personax. The batch has a
left-padded row and rows longer than the sliding window.
"""
import json

import numpy as np
import pytest
import torch
import transformers as tf

from personax.models import hub
from personax.models.transformer import causal_mask, positions_from_valid

SIZES = dict(vocab_size=256, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
             num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=256)
LLAMA3_ROPE = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
               "original_max_position_embeddings": 32, "rope_theta": 10_000.0}
FAMILIES = {
    "llama": (tf.LlamaConfig, tf.LlamaForCausalLM, dict(rope_parameters=LLAMA3_ROPE, tie_word_embeddings=False)),
    "qwen2": (tf.Qwen2Config, tf.Qwen2ForCausalLM, dict(tie_word_embeddings=True)),
    "qwen3": (tf.Qwen3Config, tf.Qwen3ForCausalLM, dict(tie_word_embeddings=False)),
    "gemma2": (tf.Gemma2Config, tf.Gemma2ForCausalLM,
               dict(sliding_window=4, attn_logit_softcapping=8.0, final_logit_softcapping=5.0,
                    query_pre_attn_scalar=12)),
    "gemma3": (tf.Gemma3TextConfig, tf.Gemma3ForCausalLM,
               dict(num_hidden_layers=3, sliding_window=4, query_pre_attn_scalar=12,
                    layer_types=["sliding_attention", "full_attention", "sliding_attention"],
                    rope_parameters={"full_attention": {"rope_type": "linear", "factor": 2.0, "rope_theta": 1e6},
                                     "sliding_attention": {"rope_type": "default", "rope_theta": 1e4}})),
}
T = 12  # longer than the sliding window (4)


def random_hf_model(family: str, seed: int = 0) -> torch.nn.Module:
    config_cls, model_cls, extra = FAMILIES[family]
    torch.manual_seed(seed)
    config = config_cls(**{**SIZES, **extra}, attn_implementation="eager")
    model = model_cls(config).eval()
    gemma = family.startswith("gemma")
    with torch.no_grad():
        for name, p in model.named_parameters():
            # Norms off their identity (1, or 0 for Gemma's 1 + w), so a swapped norm shows.
            centre = 1.0 if "norm" in name and not gemma else 0.0
            p.normal_(centre, 0.2 if "norm" in name or "bias" in name else 0.12)
    return model


def batch():
    rng = np.random.default_rng(0)
    tokens_BxT = rng.integers(0, SIZES["vocab_size"], size=(3, T))
    valid_BxT = np.ones((3, T), bool)
    valid_BxT[2, :5] = False  # left padding
    tokens_BxT[~valid_BxT] = 0
    return tokens_BxT, valid_BxT


def hf_logits(model, tokens_BxT, valid_BxT) -> np.ndarray:
    positions_BxT = np.asarray(positions_from_valid(valid_BxT))
    with torch.no_grad():
        out = model(input_ids=torch.tensor(tokens_BxT), attention_mask=torch.tensor(valid_BxT.astype(np.int64)),
                    position_ids=torch.tensor(positions_BxT))
    return out.logits.float().numpy()


def personax_logits(model, tokens_BxT, valid_BxT) -> np.ndarray:
    logits_BxTxV, _ = model(tokens_BxT, positions_from_valid(valid_BxT), causal_mask(valid_BxT))
    return np.asarray(logits_BxTxV)


def assert_logits_match(ours_BxTxV, ref_BxTxV, valid_BxT):
    ours, ref = ours_BxTxV[valid_BxT], ref_BxTxV[valid_BxT]
    assert ref.std() > 0.5, f"reference logits too small to compare meaningfully (std {ref.std():.3g})"
    np.testing.assert_allclose(ours, ref, atol=1e-4, rtol=0)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_logits_match_transformers(family, tmp_path):
    hf_model = random_hf_model(family)
    # One family is saved sharded to exercise model.safetensors.index.json.
    hf_model.save_pretrained(tmp_path, max_shard_size="40KB" if family == "qwen3" else "5GB")
    if family == "qwen3":
        assert (tmp_path / "model.safetensors.index.json").is_file()
        assert len(list(tmp_path.glob("*.safetensors"))) > 2
    model, cfg, tokenizer = hub.load(tmp_path)
    assert cfg.family == family and tokenizer is None
    tokens_BxT, valid_BxT = batch()
    assert_logits_match(personax_logits(model, tokens_BxT, valid_BxT), hf_logits(hf_model, tokens_BxT, valid_BxT),
                        valid_BxT)


def test_config_fields_from_hf(tmp_path):
    random_hf_model("gemma3").save_pretrained(tmp_path)
    cfg = hub.load_config(tmp_path)
    assert (cfg.sliding_window, cfg.sliding_window_pattern) == (4, 2)
    assert (cfg.rope_theta, cfg.rope_local_theta) == (1e6, 1e4)
    assert (cfg.rope_scaling.kind, cfg.rope_scaling.factor) == ("linear", 2.0)
    assert cfg.query_pre_attn_scalar == 12 and cfg.tie_embeddings and cfg.qk_norm


def test_load_onto_a_mesh_shards_each_weight_and_keeps_logits(tmp_path):
    from personax.sharding import MeshConfig, make_mesh, spec_for

    hf_model = random_hf_model("qwen2")
    hf_model.save_pretrained(tmp_path)
    mesh = make_mesh(MeshConfig(fsdp=4, tensor=2))
    model, _, _ = hub.load(tmp_path, mesh=mesh)
    kernel = model.layers[0].mlp.up.kernel[...]
    assert kernel.sharding.spec == spec_for("layers/0/mlp/up/kernel", kernel.shape, mesh)
    assert len(kernel.sharding.device_set) == 8 and kernel.addressable_shards[0].data.shape != kernel.shape
    tokens_BxT, valid_BxT = batch()
    assert_logits_match(personax_logits(model, tokens_BxT, valid_BxT), hf_logits(hf_model, tokens_BxT, valid_BxT),
                        valid_BxT)


@pytest.mark.parametrize("prefix, head", [("model.language_model.", "lm_head."),  # transformers 5
                                          ("language_model.model.", "language_model.lm_head.")])  # 4
def test_text_part_of_a_multimodal_gemma3_checkpoint(prefix, head, tmp_path):
    from safetensors.numpy import load_file, save_file

    hf_model = random_hf_model("gemma3")
    hf_model.save_pretrained(tmp_path / "text")
    text = load_file(str(tmp_path / "text" / "model.safetensors"))
    tensors = {(prefix + k[len("model."):]) if k.startswith("model.") else head + k[len("lm_head."):]: v
               for k, v in text.items()}
    tensors["model.vision_tower.patch_embedding.weight"] = np.ones((4, 4), np.float32)
    (tmp_path / "mm").mkdir()
    save_file(tensors, str(tmp_path / "mm" / "model.safetensors"))
    text_config = hf_model.config.to_dict()
    (tmp_path / "mm" / "config.json").write_text(json.dumps(
        {"model_type": "gemma3", "architectures": ["Gemma3ForConditionalGeneration"], "text_config": text_config}))
    model, _, _ = hub.load(tmp_path / "mm")
    tokens_BxT, valid_BxT = batch()
    assert_logits_match(personax_logits(model, tokens_BxT, valid_BxT), hf_logits(hf_model, tokens_BxT, valid_BxT),
                        valid_BxT)
