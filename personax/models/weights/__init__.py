"""Weight import (HF safetensors, GGUF) and export (HF safetensors) for `DecoderLM`."""
from personax.models.weights.errors import ModelLoadError
from personax.models.weights.hf_config import config_from_hf
from personax.models.weights.hf_config_write import config_to_hf
from personax.models.weights.hf_export import save_hf
from personax.models.weights.readers import gguf_config, hf_config, load_gguf, load_hf

__all__ = ["ModelLoadError", "config_from_hf", "config_to_hf", "save_hf", "gguf_config", "hf_config",
           "load_gguf", "load_hf"]
