"""The launch config schema: which experiment, where, how many hosts, how to retry and sweep.

A launch config is a `configs/launch/*.py` file whose `get_config()` starts from `launch_config()`.
The experiment itself stays in its own config (`experiment`, with `overrides` applied on top).
"""
from __future__ import annotations

import ml_collections


def launch_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.name = "personax"  # TPU VM / JobSet name; also the log prefix
    c.backend = "local"  # local | gpu | tpu_vm | gke
    c.experiment = ""  # an experiment config: configs/X.py or configs/X.py:variant
    c.overrides = ()  # experiment fields, "a.b=value" (each becomes --config.a.b=value)
    c.workdir = ""  # one directory every host sees (local disk, NFS, or a GCS FUSE mount)
    c.retries = 3  # a failed or preempted attempt is retried this many times, resuming from checkpoints
    c.backoff_s = 30.0  # wait before the first retry, multiplied by backoff_factor after each
    c.backoff_factor = 2.0
    c.max_backoff_s = 600.0
    c.forward_env = ()  # names of environment variables (API keys) the workers need; values never printed
    c.python = "python3"
    c.compilation_cache = True  # JAX's persistent cache: a retried attempt (or a sweep's next point) skips compiling
    c.compilation_cache_dir = ""  # "" = WORKDIR/jax_cache

    c.local = ml_collections.ConfigDict(dict(
        num_processes=1,
        cpu_devices_per_process=0,  # > 0: that many fake CPU devices per process (tests, laptops)
        platform="",  # JAX_PLATFORMS for the workers; "" leaves JAX's choice
        gpus_per_process=0))  # > 0: process i sees GPUs [i*k, (i+1)*k) (CUDA_VISIBLE_DEVICES)

    c.gpu = ml_collections.ConfigDict(dict(
        hosts=("localhost",),  # ssh names; the first one runs the coordinator
        processes_per_host=1,  # 1: one process drives all of a host's GPUs
        gpus_per_host=8,
        port=12355,
        remote_dir="$HOME/personax",  # the code's checkout on every host
        ssh="ssh"))

    c.tpu = ml_collections.ConfigDict(dict(
        accelerator="v5p-16",  # a name from launch.accelerators.TPUS
        zone="", project="",
        runtime_version="",  # "" = the accelerator's default TPU VM image
        reuse=True,  # keep and reuse an existing TPU VM of this name
        spot=False,  # spot capacity: cheaper, preemptible (the retry loop recreates it)
        delete_when_done=False,
        code="copy",  # copy: this checkout (git archive of HEAD) to every worker; pip: install pip_spec
        pip_spec="",
        remote_dir="$HOME/personax",  # where the code is unpacked on every worker
        gcs_bucket="",  # mounted with gcsfuse at `mount` on every worker (then put workdir under it)
        mount="/mnt/personax"))

    c.gke = ml_collections.ConfigDict(dict(
        accelerator="v5p-16",  # a TPU name from launch.accelerators.TPUS, or "gpu"
        image="",  # a container image with personax installed at /app
        namespace="default",
        service_account="",  # Kubernetes service account (Workload Identity for GCS)
        secret="",  # a Kubernetes secret holding the forward_env variables
        gcs_bucket="", mount="/mnt/personax",  # GCS FUSE CSI volume for the shared workdir
        gpu_hosts=2, gpus_per_host=8, gpu_type="nvidia-h100-80gb",  # accelerator="gpu" only
        coordinator_port=1234))

    c.sweep = ml_collections.ConfigDict(dict(
        grid=(),  # ((experiment field, (values...)), ...); every combination runs in WORKDIR/<point>
        stage="grpo",  # whose metrics.jsonl the summary reads
        metrics=("reward/total/mean", "reward/profile/mean", "reward/task_pairwise/mean", "kl_mean", "loss")))
    return c


def common_env(lc: ml_collections.ConfigDict) -> dict[str, str]:
    """Variables every worker gets, whatever the backend."""
    if not lc.compilation_cache:
        return {}
    return {"JAX_COMPILATION_CACHE_DIR": lc.compilation_cache_dir or f"{lc.workdir.rstrip('/')}/jax_cache"}


def experiment_args(lc: ml_collections.ConfigDict) -> list[str]:
    """The worker's arguments: --config FILE --workdir DIR --config.a.b=value ..."""
    if not lc.experiment:
        raise ValueError("launch config: `experiment` (an experiment config file) is empty")
    if not lc.workdir:
        raise ValueError("launch config: `workdir` is empty")
    args = ["--config", lc.experiment, "--workdir", lc.workdir]
    for item in lc.overrides:
        name, eq, value = item.partition("=")
        if not eq or not name:
            raise ValueError(f"launch config: override {item!r} must look like 'a.b=value'")
        args.append(f"--config.{name}={value}")
    return args
