"""The model families personax runs, as transformers names them."""
from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Family:
    architecture: str
    model_type: str
    tie_default: bool  # the transformers config class default, used when config.json omits it
    theta_default: float
    gemma: bool = False


FAMILIES = {
    "llama": Family("LlamaForCausalLM", "llama", False, 10_000.0),
    "qwen2": Family("Qwen2ForCausalLM", "qwen2", False, 10_000.0),
    "qwen3": Family("Qwen3ForCausalLM", "qwen3", False, 10_000.0),
    "gemma2": Family("Gemma2ForCausalLM", "gemma2", True, 10_000.0, gemma=True),
    "gemma3": Family("Gemma3ForCausalLM", "gemma3_text", True, 1_000_000.0, gemma=True),
}
