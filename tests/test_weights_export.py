"""Export: personax -> HF folder -> transformers gives personax's logits; LoRA merged; CLI."""
import json

import jax.numpy as jnp
import numpy as np
import pytest
import torch
from flax import nnx
from safetensors import safe_open
from transformers import AutoModelForCausalLM, AutoTokenizer

import personax.models.registry  # noqa: F401  (fills the named-config registry)
from personax.cli import main
from personax.models import hub
from personax.models.config import get_config
from personax.models.lora import LoRAConfig, LoRAParam, apply_lora, has_lora
from personax.models.transformer import DecoderLM
from personax.models.weights import save_hf
from personax.models.weights.families import FAMILIES
from personax.treepath import map_with_names
from test_parity_hf import assert_logits_match, batch, hf_logits, personax_logits, random_hf_model
from test_weights_gguf import write_gguf

TINY = ["tiny-llama", "tiny-qwen2", "tiny-qwen3", "tiny-gemma2", "tiny-gemma3"]


def random_lora_model(name: str, seed: int = 0, **overrides) -> DecoderLM:
    cfg = get_config(name).replace(**overrides)
    model = DecoderLM(cfg, nnx.Rngs(seed))
    apply_lora(model, LoRAConfig(rank=4, alpha=8.0), nnx.Rngs(seed + 1))
    rng = np.random.default_rng(seed)

    def redraw(path: str, x):
        # O(1) logits, norms off identity, and non-zero adapters B so that merging matters.
        centre = 1.0 if "norm" in path and not cfg.norm_plus_one else 0.0
        std = 0.2 if "norm" in path or "bias" in path else 0.12
        return jnp.asarray(rng.normal(centre, std, x.shape), x.dtype)

    nnx.update(model, map_with_names(redraw, nnx.state(model, (nnx.Param, LoRAParam))))
    return model


@pytest.mark.parametrize("name", TINY)
def test_export_with_merged_lora_matches_transformers(name, tmp_path):
    model = random_lora_model(name)
    tokens_BxT, valid_BxT = batch()
    ours_BxTxV = personax_logits(model, tokens_BxT, valid_BxT)
    save_hf(model, tmp_path)
    assert has_lora(model), "export must not strip the caller's adapters"
    hf_model = AutoModelForCausalLM.from_pretrained(tmp_path, attn_implementation="eager", dtype=torch.float32)
    assert type(hf_model).__name__ == FAMILIES[model.cfg.family].architecture
    assert_logits_match(ours_BxTxV, hf_logits(hf_model, tokens_BxT, valid_BxT), valid_BxT)
    assert hub.load_config(tmp_path) == model.cfg


def test_bfloat16_export_keeps_dtype_and_bits(tmp_path):
    model = random_lora_model("tiny-qwen3", param_dtype="bfloat16", dtype="bfloat16")
    save_hf(model, tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["torch_dtype"] == "bfloat16"
    with safe_open(str(tmp_path / "model.safetensors"), "numpy") as f:
        assert f.get_slice("model.embed_tokens.weight").get_dtype() == "BF16"
    back, cfg, _ = hub.load(tmp_path)
    assert cfg.param_dtype == "bfloat16" and back.embed[...].dtype == jnp.bfloat16
    np.testing.assert_array_equal(np.asarray(back.embed[...]), np.asarray(model.embed[...]))


def test_export_refuses_a_config_the_hf_class_cannot_express(tmp_path):
    model = random_lora_model("tiny-llama", qk_norm=True)
    with pytest.raises(ValueError, match=r"cannot export this llama model to HF: qk_norm=True"):
        save_hf(model, tmp_path)


def test_cli_export_of_a_gguf_with_tokenizer(tmp_path, capsys):
    hf_model = random_hf_model("llama", seed=2)
    write_gguf(hf_model, tmp_path / "tiny.gguf", "llama")
    out = tmp_path / "hf"
    assert main(["export", "--model", str(tmp_path / "tiny.gguf"), "--out", str(out)]) == 0
    assert "tokenizer.json" in capsys.readouterr().out
    assert AutoTokenizer.from_pretrained(out)("hi", add_special_tokens=False)["input_ids"] == [ord("h"), ord("i")]
    exported = AutoModelForCausalLM.from_pretrained(out, attn_implementation="eager", dtype=torch.float32)
    tokens_BxT, valid_BxT = batch()
    assert_logits_match(hf_logits(exported, tokens_BxT, valid_BxT), hf_logits(hf_model, tokens_BxT, valid_BxT),
                        valid_BxT)
    # A second export into the same folder must be asked for.
    assert main(["export", "--model", str(tmp_path / "tiny.gguf"), "--out", str(out)]) == 2
    assert "not empty; pass --overwrite" in capsys.readouterr().err


def test_cli_export_unknown_model(tmp_path, capsys):
    assert main(["export", "--model", "no-such-model", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'no-such-model'" in err and "smollm2-135m-instruct" in err
