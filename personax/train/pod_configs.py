"""The paper's training settings (SPEC §2.2-2.3) for 8B policies on a pod slice, shared by
`configs/qwen3_8b_tpu.py` and `configs/llama31_8b_tpu.py`, and their `:tiny` variant that runs the
same code path on 8 (fake) devices in a minute so the pod configs cannot rot."""
from __future__ import annotations

import pathlib

import ml_collections

from personax.configfile import load_config
from personax.train.experiment import experiment

DATAGEN = pathlib.Path(__file__).resolve().parents[2] / "configs" / "datagen" / "personaatlas_openai.py"
OPENAI = dict(base_url="https://api.openai.com/v1", api_key_env="OPENAI_API_KEY", concurrency=32,
              timeout_s=120.0, max_retries=6)


def paper_config(model_path: str, arg: str = "") -> ml_collections.ConfigDict:
    c = experiment()
    c.stages = ("data", "sft", "grpo", "eval")
    c.model.update(dict(name=model_path, init="pretrained", param_dtype="bfloat16", dtype="bfloat16"))
    c.lora.update(dict(rank=32, alpha=64.0))
    c.mesh.update(dict(data=1, fsdp=-1, tensor=1))  # FSDP over every chip of the slice
    c.data.datagen = load_config(str(DATAGEN))
    c.data.datagen.progress = False
    c.data.splits = "sft=250,rl=279,eval=125"  # the reference's persona-disjoint sizes
    c.data.teacher = "hosted"
    from personax.llm.config import role_config
    c.data.teacher_role = role_config(models=(("gpt-4o", 1.0),), temperature=0.7, **OPENAI)
    c.sft.update(dict(steps=300, batch_size=32, grad_accum=4, max_len=4096, peak_lr=5e-5, end_lr=1e-5,
                      warmup_steps=100, checkpoint_every=50))
    c.grpo.update(dict(steps=279, lr=1e-5, max_prompt_len=3584, checkpoint_every=10))
    c.grpo.batch.update(dict(prompts_per_step=4, group_size=8, mini_batch_size=32, micro_batch_size=8))
    c.rewards.deployed.backend = "hosted"
    c.rewards.deployed.llm.update(dict(models=(("gpt-4o-mini", 1.0),), **OPENAI))
    c.rewards.judge.backend = "hosted"
    c.rewards.judge.llm.update(dict(models=(("gpt-4o", 1.0),), **OPENAI))
    if arg == "tiny":
        shrink_to_tiny(c)
    elif arg:
        raise ValueError(f"unknown config variant {arg!r}; known: 'tiny'")
    return c


def shrink_to_tiny(c: ml_collections.ConfigDict) -> None:
    """Same stages and mesh code on a tiny scratch model, sim data and sim rewards: one step each."""
    c.stages = ("data", "sft", "grpo")
    c.progress = False
    c.model.update(dict(name="tiny", init="scratch", param_dtype="float32", dtype="float32",
                        vocab_size=512, max_seq_len=1024))
    c.lora.rank = 8
    c.mesh.update(dict(data=2, fsdp=2, tensor=2))
    from data_gen.config import base_config
    c.data.datagen = base_config()
    c.data.datagen.update(dict(num_personas=16, progress=False))
    c.data.splits = "sft=8,rl=6,eval=2"
    c.data.teacher = "sim"
    c.sft.update(dict(steps=1, batch_size=8, grad_accum=2, max_len=512, warmup_steps=1, checkpoint_every=1))
    c.grpo.update(dict(steps=1, max_prompt_len=448, checkpoint_every=1))
    c.grpo.sampling.max_new_tokens = 16
    c.grpo.batch.update(dict(prompts_per_step=2, group_size=4, mini_batch_size=8, micro_batch_size=4))
    c.rewards.deployed.backend = "sim"
    c.rewards.judge.backend = "sim"
