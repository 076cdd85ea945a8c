"""Named model configs: real families and tiny test sizes."""
from personax.models.config import ModelConfig, RopeScaling, register


@register("smollm2-135m")
def smollm2_135m() -> ModelConfig:
    return ModelConfig(family="llama", vocab_size=49152, d_model=576, n_layers=30, n_heads=9,
                       n_kv_heads=3, head_dim=64, ffn_dim=1536, rope_theta=100_000.0,
                       norm_eps=1e-5, tie_embeddings=True, max_seq_len=8192)


@register("llama3.1-8b")
def llama31_8b() -> ModelConfig:
    return ModelConfig(family="llama", vocab_size=128256, d_model=4096, n_layers=32, n_heads=32,
                       n_kv_heads=8, head_dim=128, ffn_dim=14336, rope_theta=500_000.0,
                       rope_scaling=RopeScaling("llama3", 8.0, 1.0, 4.0, 8192), norm_eps=1e-5,
                       tie_embeddings=False, max_seq_len=131072, param_dtype="bfloat16", dtype="bfloat16")


@register("qwen3-8b")
def qwen3_8b() -> ModelConfig:
    return ModelConfig(family="qwen3", vocab_size=151936, d_model=4096, n_layers=36, n_heads=32,
                       n_kv_heads=8, head_dim=128, ffn_dim=12288, rope_theta=1_000_000.0,
                       norm_eps=1e-6, tie_embeddings=False, qk_norm=True, max_seq_len=40960,
                       param_dtype="bfloat16", dtype="bfloat16")


@register("qwen2.5-0.5b")
def qwen25_05b() -> ModelConfig:
    return ModelConfig(family="qwen2", vocab_size=151936, d_model=896, n_layers=24, n_heads=14,
                       n_kv_heads=2, head_dim=64, ffn_dim=4864, rope_theta=1_000_000.0,
                       norm_eps=1e-6, tie_embeddings=True, qkv_bias=True, max_seq_len=32768)


@register("gemma3-1b")
def gemma3_1b() -> ModelConfig:
    return ModelConfig(family="gemma3", vocab_size=262144, d_model=1152, n_layers=26, n_heads=4,
                       n_kv_heads=1, head_dim=256, ffn_dim=6912, rope_theta=1_000_000.0,
                       rope_local_theta=10_000.0, norm_eps=1e-6, tie_embeddings=True, qk_norm=True,
                       activation="gelu_tanh", norm_plus_one=True, embed_scale=True, post_norms=True,
                       query_pre_attn_scalar=256, sliding_window=512, sliding_window_pattern=6,
                       max_seq_len=32768)


@register("gemma2-2b")
def gemma2_2b() -> ModelConfig:
    return ModelConfig(family="gemma2", vocab_size=256000, d_model=2304, n_layers=26, n_heads=8,
                       n_kv_heads=4, head_dim=256, ffn_dim=9216, rope_theta=10_000.0, norm_eps=1e-6,
                       tie_embeddings=True, activation="gelu_tanh", norm_plus_one=True,
                       embed_scale=True, post_norms=True, query_pre_attn_scalar=256,
                       attn_logit_softcap=50.0, final_logit_softcap=30.0, sliding_window=4096,
                       sliding_window_pattern=2, max_seq_len=8192)


# Tiny sizes for tests and CPU smoke runs; each exercises its family's distinctive features.
_TINY = dict(vocab_size=256, d_model=64, n_layers=2, n_heads=4, n_kv_heads=2, head_dim=16,
             ffn_dim=128, max_seq_len=256)


@register("tiny")
@register("tiny-llama")
def tiny_llama() -> ModelConfig:
    return ModelConfig(family="llama", rope_theta=10_000.0, norm_eps=1e-5, tie_embeddings=False,
                       rope_scaling=RopeScaling("llama3", 8.0, 1.0, 4.0, 32), **_TINY)


@register("tiny-qwen2")
def tiny_qwen2() -> ModelConfig:
    return ModelConfig(family="qwen2", rope_theta=1_000_000.0, qkv_bias=True, **_TINY)


@register("tiny-qwen3")
def tiny_qwen3() -> ModelConfig:
    return ModelConfig(family="qwen3", rope_theta=1_000_000.0, qk_norm=True, tie_embeddings=False, **_TINY)


@register("tiny-gemma3")
def tiny_gemma3() -> ModelConfig:
    return ModelConfig(family="gemma3", rope_theta=1_000_000.0, rope_local_theta=10_000.0,
                       qk_norm=True, activation="gelu_tanh", norm_plus_one=True, embed_scale=True,
                       post_norms=True, query_pre_attn_scalar=16, sliding_window=4,
                       sliding_window_pattern=2, **{**_TINY, "n_layers": 3})


@register("tiny-gemma2")
def tiny_gemma2() -> ModelConfig:
    return ModelConfig(family="gemma2", activation="gelu_tanh", norm_plus_one=True, embed_scale=True,
                       post_norms=True, query_pre_attn_scalar=16, attn_logit_softcap=50.0,
                       final_logit_softcap=30.0, sliding_window=4, sliding_window_pattern=2, **_TINY)
