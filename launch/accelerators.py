"""TPU slice shapes: the gcloud accelerator type and TPU VM image, the GKE node labels, and how many
hosts (one worker process each) with how many chips a slice has."""
from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class TPU:
    gcloud_type: str  # --accelerator-type of `gcloud compute tpus tpu-vm create`
    runtime_version: str  # default --version (TPU VM image)
    gke_accelerator: str  # node label cloud.google.com/gke-tpu-accelerator
    topology: str  # node label cloud.google.com/gke-tpu-topology
    hosts: int
    chips_per_host: int


TPUS: dict[str, TPU] = {
    "v4-16": TPU("v4-16", "tpu-ubuntu2204-base", "tpu-v4-podslice", "2x2x2", 2, 4),
    "v5p-8": TPU("v5p-8", "v2-alpha-tpuv5", "tpu-v5p-slice", "2x2x1", 1, 4),
    "v5p-16": TPU("v5p-16", "v2-alpha-tpuv5", "tpu-v5p-slice", "2x2x2", 2, 4),
    "v5p-32": TPU("v5p-32", "v2-alpha-tpuv5", "tpu-v5p-slice", "2x2x4", 4, 4),
    "v5e-8": TPU("v5litepod-8", "v2-alpha-tpuv5-lite", "tpu-v5-lite-podslice", "2x4", 1, 8),
    "v5e-16": TPU("v5litepod-16", "v2-alpha-tpuv5-lite", "tpu-v5-lite-podslice", "4x4", 4, 4),
    "v5e-32": TPU("v5litepod-32", "v2-alpha-tpuv5-lite", "tpu-v5-lite-podslice", "4x8", 8, 4),
    "v6e-16": TPU("v6e-16", "v2-alpha-tpuv6e", "tpu-v6e-slice", "4x4", 4, 4),
}


def tpu(name: str) -> TPU:
    if name not in TPUS:
        raise ValueError(f"unknown TPU accelerator {name!r}; known: {', '.join(TPUS)}")
    return TPUS[name]
