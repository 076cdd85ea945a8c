"""GGUF import: tiny GGUF files written here the way llama.cpp's converter writes them (Q/K rows
permuted, Llama 3 RoPE as `rope_freqs`), checked against transformers; and the real SmolLM2 GGUF."""
import math

import gguf
import jax
import numpy as np
import pytest

from personax.models import hub
from personax.models.config import get_config
import personax.models.registry  # noqa: F401  (fills the named-config registry)
from personax.models.transformer import causal_mask, positions_from_valid
from personax.tokenizers.byte_level import byte_to_char
from test_parity_hf import assert_logits_match, batch, hf_logits, personax_logits, random_hf_model

_TO_GGUF = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
            "lm_head.weight": "output.weight", "input_layernorm.weight": "attn_norm.weight",
            "post_attention_layernorm.weight": "ffn_norm.weight", "self_attn.o_proj.weight": "attn_output.weight"}


def gguf_name(hf: str) -> str:
    if hf in _TO_GGUF:
        return _TO_GGUF[hf]
    _, _, layer, rest = hf.split(".", 3)
    rest = _TO_GGUF.get(rest) or rest.replace("self_attn.", "attn_").replace("_proj", "").replace("mlp.", "ffn_")
    return f"blk.{layer}.{rest}"


def llamacpp_permute(w_OxI: np.ndarray, n_heads: int) -> np.ndarray:
    """llama.cpp's converter: per head, the two RoPE halves are interleaved row by row."""
    out, rest = w_OxI.shape[0], w_OxI.shape[1:]
    return w_OxI.reshape(n_heads, 2, out // n_heads // 2, *rest).swapaxes(1, 2).reshape(out, *rest)


def llama3_rope_factors(rope: dict, head_dim: int) -> np.ndarray:
    factors = []
    for i in range(0, head_dim, 2):
        wavelen = 2 * math.pi * rope["rope_theta"] ** (i / head_dim)
        if wavelen < rope["original_max_position_embeddings"] / rope["high_freq_factor"]:
            factors.append(1.0)
        elif wavelen > rope["original_max_position_embeddings"] / rope["low_freq_factor"]:
            factors.append(rope["factor"])
        else:
            smooth = (rope["original_max_position_embeddings"] / wavelen - rope["low_freq_factor"]) / (
                rope["high_freq_factor"] - rope["low_freq_factor"])
            factors.append(1 / ((1 - smooth) / rope["factor"] + smooth))
    return np.asarray(factors, np.float32)


def write_gguf(hf_model, path, arch: str, *, tokenizer: bool = True, skip: tuple[str, ...] = ()) -> None:
    c = hf_model.config
    rope = c.rope_parameters
    w = gguf.GGUFWriter(str(path), arch)
    w.add_block_count(c.num_hidden_layers)
    w.add_context_length(c.max_position_embeddings)
    w.add_embedding_length(c.hidden_size)
    w.add_feed_forward_length(c.intermediate_size)
    w.add_head_count(c.num_attention_heads)
    w.add_head_count_kv(c.num_key_value_heads)
    w.add_rope_freq_base(rope["rope_theta"])
    w.add_layer_norm_rms_eps(c.rms_norm_eps)
    w.add_vocab_size(c.vocab_size)
    w.add_key_length(c.head_dim)
    if tokenizer:  # one token per byte: enough for a real byte-level BPE tokenizer
        w.add_tokenizer_model("gpt2")
        w.add_tokenizer_pre("default")
        w.add_token_list(list(byte_to_char()))
        w.add_token_types([1] * 256)
        w.add_bos_token_id(1)
        w.add_eos_token_id(2)
    for name, t in hf_model.state_dict().items():
        if name in skip or (name == "lm_head.weight" and c.tie_word_embeddings):
            continue
        x = t.numpy()
        if arch == "llama" and name.endswith(("q_proj.weight", "k_proj.weight")):
            x = llamacpp_permute(x, c.num_attention_heads if "q_proj" in name else c.num_key_value_heads)
        w.add_tensor(gguf_name(name), np.ascontiguousarray(x))
    if rope.get("rope_type") == "llama3":
        w.add_tensor("rope_freqs.weight", llama3_rope_factors(rope, c.head_dim))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


@pytest.mark.parametrize("family", ["llama", "qwen2", "qwen3"])
def test_tiny_gguf_matches_transformers(family, tmp_path):
    hf_model = random_hf_model(family, seed=1)
    path = tmp_path / f"tiny-{family}.gguf"
    write_gguf(hf_model, path, family)
    model, cfg, tokenizer = hub.load(path)
    assert cfg.family == family and tokenizer.encode("hi", add_special_tokens=False) == [ord("h"), ord("i")]
    if family == "llama":  # the Llama 3 RoPE parameters were recovered from rope_freqs
        assert (cfg.rope_scaling.kind, cfg.rope_scaling.factor) == ("llama3", 8.0)
    tokens_BxT, valid_BxT = batch()
    assert_logits_match(personax_logits(model, tokens_BxT, valid_BxT), hf_logits(hf_model, tokens_BxT, valid_BxT),
                        valid_BxT)


@pytest.fixture(scope="module")
def smollm2():
    return hub.load("smollm2-135m-instruct")


def test_smollm2_config_is_the_registered_one(smollm2):
    _, cfg, _ = smollm2
    assert cfg.replace(bos_id=None, eos_id=None) == get_config("smollm2-135m")


def test_smollm2_answers_with_the(smollm2):
    model, _, tokenizer = smollm2
    ids = tokenizer.encode_chat([{"role": "user", "content": "What is the capital of France?"}])
    assert tokenizer.decode(ids[-4:], skip_special_tokens=False) == "<|im_start|>assistant\n"
    tokens_1xT = np.asarray([ids])
    valid_1xT = np.ones_like(tokens_1xT, bool)
    logits_1xTxV, _ = model(tokens_1xT, positions_from_valid(valid_1xT), causal_mask(valid_1xT))
    probs_V = np.asarray(jax.nn.softmax(logits_1xTxV[0, -1]))
    first = int(probs_V.argmax())
    assert tokenizer.decode([first]) == "The", (tokenizer.decode([first]), probs_V[first])
