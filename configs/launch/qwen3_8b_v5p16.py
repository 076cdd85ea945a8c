"""PPOpt on Qwen3-8B (configs/qwen3_8b_tpu.py) on a v5p-16 TPU VM slice: 2 hosts x 4 chips, FSDP
over all 8 chips; PersonaGym on OpenRouter, teacher / deployed LLM / judge on OpenAI.

    export OPENROUTER_API_KEY=... OPENAI_API_KEY=...
    python -m launch --config configs/launch/qwen3_8b_v5p16.py --config.tpu.project=MY_PROJECT \
        --config.tpu.gcs_bucket=MY_BUCKET --dry-run       # print every gcloud command; drop --dry-run to run

The workdir and the model live in the GCS bucket, mounted with gcsfuse at /mnt/personax on every
worker (copy the HF folder of Qwen3-8B to gs://MY_BUCKET/models/Qwen3-8B first). Variant `:v5e16`
runs the same on a v5e-16 slice (4 hosts x 4 chips). Time: datagen ~6 h (API-bound), SFT and GRPO a
few hours (not yet measured). A preempted or failed attempt is retried 3 times (30 s, 60 s, 120 s
backoff) and resumes from the last checkpoint.
"""
from launch.config import launch_config


def get_config(arg: str = ""):
    c = launch_config()
    c.name = "personax-qwen3-8b"
    c.backend = "tpu_vm"
    c.experiment = "configs/qwen3_8b_tpu.py"
    c.workdir = "/mnt/personax/runs/qwen3-8b"
    c.overrides = ("model.name=/mnt/personax/models/Qwen3-8B", "progress=false")
    c.forward_env = ("OPENROUTER_API_KEY", "OPENAI_API_KEY")
    c.retries, c.backoff_s, c.backoff_factor = 3, 30.0, 2.0
    c.tpu.update(dict(accelerator="v5p-16", zone="us-east5-a", spot=False, delete_when_done=False))
    if arg == "v5e16":
        c.name = "personax-qwen3-8b-v5e"
        c.tpu.update(dict(accelerator="v5e-16", zone="us-west4-a"))
    elif arg:
        raise ValueError(f"unknown variant {arg!r}; known: 'v5e16'")
    return c
