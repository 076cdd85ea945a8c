"""Device mesh, parameter partition rules, batch placement and multi-host start-up.

The mesh has three axes: `data` (pure data parallel), `fsdp` (data parallel with parameters
sharded) and `tensor` (tensor parallel inside matmuls). Batches are split over data x fsdp.
Partition rules map a parameter's readable name (see `personax.treepath`) to a PartitionSpec;
the first matching regex wins and every parameter must match one.
"""
from __future__ import annotations

import dataclasses
import os
import re

import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec as P

from personax.treepath import map_with_names

AXES = ("data", "fsdp", "tensor")
BATCH_AXES = ("data", "fsdp")

# Kernels are [in, out]: column-parallel layers split `out` over tensor, row-parallel split `in`.
DEFAULT_RULES: tuple[tuple[str, P], ...] = (
    (r"^embed$|trunk/embed$", P("tensor", "fsdp")),
    (r"attn/(q|k|v)/kernel$", P("fsdp", "tensor")),
    (r"attn/(q|k|v)/bias$", P("tensor")),
    (r"attn/o/kernel$", P("tensor", "fsdp")),
    (r"mlp/(gate|up)/kernel$", P("fsdp", "tensor")),
    (r"mlp/down/kernel$", P("tensor", "fsdp")),
    (r"lm_head/kernel$", P("fsdp", "tensor")),
    (r"lora/(a|b)$", P()),  # rank-r adapters are small: replicate
    (r"^head/(kernel|bias)$", P()),
    (r"norm/weight$", P()),
    (r"rngs/", P()),  # dropout RNG state
)


@dataclasses.dataclass(frozen=True)
class MeshConfig:
    data: int = -1  # -1: whatever the other axes leave
    fsdp: int = 1
    tensor: int = 1


def make_mesh(cfg: MeshConfig = MeshConfig(), devices=None) -> Mesh:
    devices = list(jax.devices() if devices is None else devices)
    sizes = [cfg.data, cfg.fsdp, cfg.tensor]
    if sizes.count(-1) > 1:
        raise ValueError(f"at most one mesh axis may be -1, got {dict(zip(AXES, sizes))}")
    known = int(np.prod([s for s in sizes if s != -1]))
    if -1 in sizes:
        if len(devices) % known:
            raise ValueError(f"{len(devices)} devices cannot be split into mesh {dict(zip(AXES, sizes))}")
        sizes[sizes.index(-1)] = len(devices) // known
    if int(np.prod(sizes)) != len(devices):
        raise ValueError(f"mesh {dict(zip(AXES, sizes))} needs {int(np.prod(sizes))} devices, "
                         f"found {len(devices)}")
    grid = np.asarray(devices).reshape(sizes)
    return Mesh(grid, AXES, axis_types=(AxisType.Auto,) * len(AXES))


def _fit(spec: P, shape: tuple[int, ...], mesh: Mesh) -> P:
    """Drops mesh axes that do not divide their dimension (small or odd-sized tensors replicate)."""
    fitted = []
    for dim, axis in zip(shape, tuple(spec) + (None,) * (len(shape) - len(spec))):
        names = (axis,) if isinstance(axis, str) else tuple(axis or ())
        size = int(np.prod([mesh.shape[n] for n in names])) if names else 1
        fitted.append(axis if names and dim % size == 0 else None)
    return P(*fitted)


def spec_for(name: str, shape: tuple[int, ...], mesh: Mesh, rules=DEFAULT_RULES) -> P:
    for pattern, spec in rules:
        if re.search(pattern, name):
            return _fit(spec, shape, mesh)
    raise ValueError(f"no partition rule matches parameter {name!r} (shape {shape}); add one to the rules")


def state_shardings(state, mesh: Mesh, rules=DEFAULT_RULES):
    """NamedSharding for every leaf of a parameter pytree (arrays or ShapeDtypeStructs)."""
    return map_with_names(lambda name, x: NamedSharding(mesh, spec_for(name, x.shape, mesh, rules)), state)


def shard_state(state, mesh: Mesh, rules=DEFAULT_RULES):
    return jax.device_put(state, state_shardings(state, mesh, rules))


def batch_sharding(mesh: Mesh, ndim: int = 2) -> NamedSharding:
    return NamedSharding(mesh, P(BATCH_AXES, *([None] * (ndim - 1))))


def place_batch(mesh: Mesh, local_batch):
    """Each process passes its own rows; the result is one global array split over data x fsdp."""
    return jax.tree.map(
        lambda x: jax.make_array_from_process_local_data(batch_sharding(mesh, np.ndim(x)), np.asarray(x)),
        local_batch)


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def commit(tree, mesh: Mesh):
    """Pins every array to a sharding on `mesh`: the one it has, or replicated for arrays that
    live on a single device (e.g. an optimizer's step count). A jitted step then sees the same
    input shardings on its first call as on later ones (else it compiles twice)."""
    return jax.device_put(tree, jax.tree.map(
        lambda x: x.sharding if isinstance(x.sharding, NamedSharding) else replicated(mesh), tree))


def state_out_shardings(mesh: Mesh, *states):
    """Out-shardings for a train step returning (*states, metrics): each state keeps its input
    shardings (else XLA picks its own and the next call recompiles); metrics are replicated."""
    return (*(jax.tree.map(lambda x: x.sharding, s) for s in states), replicated(mesh))


def initialize_distributed(coordinator: str | None = None, num_processes: int | None = None,
                           process_id: int | None = None) -> None:
    """Multi-host start: explicit arguments, else PERSONAX_COORDINATOR/NUM_PROCESSES/PROCESS_ID,
    else JAX's own auto-detection (TPU VMs, SLURM, GKE). A single process needs none of it."""
    coordinator = coordinator or os.environ.get("PERSONAX_COORDINATOR")
    if num_processes is None and "PERSONAX_NUM_PROCESSES" in os.environ:
        num_processes = int(os.environ["PERSONAX_NUM_PROCESSES"])
    if process_id is None and "PERSONAX_PROCESS_ID" in os.environ:
        process_id = int(os.environ["PERSONAX_PROCESS_ID"])
    if coordinator or num_processes or process_id is not None:
        jax.distributed.initialize(coordinator_address=coordinator, num_processes=num_processes,
                                   process_id=process_id)
    elif os.environ.get("TPU_WORKER_HOSTNAMES") or os.environ.get("SLURM_JOB_ID"):
        jax.distributed.initialize()
