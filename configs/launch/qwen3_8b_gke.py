"""PPOpt on Qwen3-8B as a JobSet on GKE: a v5p-16 TPU node pool (2 hosts x 4 chips), or `:v5e16`
(4 hosts x 4 chips), or `:gpu` (2 nodes x 8 H100). The workdir is a GCS bucket mounted by the GCS
FUSE CSI driver; the API keys come from the Kubernetes secret `personax-keys`.

    kubectl create secret generic personax-keys --from-literal=OPENROUTER_API_KEY=... \
        --from-literal=OPENAI_API_KEY=...
    python -m launch --config configs/launch/qwen3_8b_gke.py --config.gke.image=IMAGE \
        --config.gke.gcs_bucket=MY_BUCKET --dry-run      # print the manifest and kubectl commands

JobSet restarts the whole set up to `retries` times after a failure or preemption; the workers
resume from the last checkpoint in the bucket.
"""
from launch.config import launch_config


def get_config(arg: str = ""):
    c = launch_config()
    c.name = "personax-qwen3-8b"
    c.backend = "gke"
    c.experiment = "configs/qwen3_8b_tpu.py"
    c.workdir = "/mnt/personax/runs/qwen3-8b"
    c.overrides = ("model.name=/mnt/personax/models/Qwen3-8B", "progress=false")
    c.forward_env = ("OPENROUTER_API_KEY", "OPENAI_API_KEY")
    c.retries = 3
    c.gke.update(dict(accelerator="v5p-16", secret="personax-keys", service_account="personax"))
    if arg == "v5e16":
        c.gke.accelerator = "v5e-16"
    elif arg == "gpu":
        c.gke.update(dict(accelerator="gpu", gpu_hosts=2, gpus_per_host=8))
    elif arg:
        raise ValueError(f"unknown variant {arg!r}; known: 'v5e16', 'gpu'")
    return c
