"""PPOpt on Qwen3-8B with the paper's settings, on a TPU pod slice (e.g. v5p-16 / v5e-16).

    export OPENROUTER_API_KEY=... OPENAI_API_KEY=...
    personax run --config configs/qwen3_8b_tpu.py --workdir /mnt/shared/runs/qwen3 \
        --config.model.name=/path/to/Qwen3-8B        # an HF folder: config.json + safetensors + tokenizer
    personax run --config configs/qwen3_8b_tpu.py:tiny --workdir /tmp/tiny   # same path, 8 CPU devices

Runs on: a pod slice, FSDP over every chip; PersonaGym on OpenRouter, privileged teacher gpt-4o,
deployed LLM gpt-4o-mini, judge gpt-4o. LoRA r 32; SFT 300 steps x 32, 5e-5 -> 1e-5 after 100
warmup steps; GRPO G 8, clip 0.2, beta 0.1 (k3) against the SFT policy, LR 1e-5, T 0.7, top-p 0.9,
512 new tokens, lambda_prof 0.3 / lambda_task 0.7. Time: datagen ~6 h (API-bound), SFT and GRPO
a few hours on v5p-16 (not yet measured here). Expected (the authors' logs, not reproduced here):
personalization of rewrites ~8.3 vs ~5.3 for the original query, task roughly level.
The `:tiny` variant runs one SFT and one GRPO step of a tiny model on a (2, 2, 2) mesh in ~2 minutes.
"""
from personax.train.pod_configs import paper_config


def get_config(arg: str = ""):
    return paper_config("/path/to/Qwen3-8B", arg)
