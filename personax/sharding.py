"""Device mesh, parameter partition rules, batch placement and multi-host start-up.

The mesh has three axes: `data` (pure data parallel), `fsdp` (data parallel with parameters
sharded) and `tensor` (tensor parallel inside matmuls). Batches are split over data x fsdp.
Partition rules map a parameter's readable name (see `personax.treepath`) to a PartitionSpec;
the first matching regex wins and every parameter must match one.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
from typing import Callable, TypeVar

import jax
import numpy as np
from jax.experimental import multihost_utils
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
    shardings = state_shardings(state, mesh, rules)
    if jax.process_count() == 1:
        return jax.device_put(state, shardings)
    # Each host holds the whole value (loaded or restored onto its own device): every host fills its
    # own devices' shards, since device_put cannot move a committed array to another host's devices.
    return jax.tree.map(lambda x, s: jax.make_array_from_callback(x.shape, s, lambda index: x[index]),
                        state, shardings)


def batch_sharding(mesh: Mesh, ndim: int = 2) -> NamedSharding:
    return NamedSharding(mesh, P(BATCH_AXES, *([None] * (ndim - 1))))


def place_batch(mesh: Mesh, local_batch):
    """Each process passes its own rows; the result is one global array split over data x fsdp."""
    shards = int(np.prod([mesh.shape[a] for a in BATCH_AXES]))
    for x in jax.tree.leaves(local_batch):
        rows = np.shape(x)[0] * jax.process_count()
        if rows % shards:
            raise ValueError(f"a batch of {rows} rows does not split over data x fsdp = {shards} devices; "
                             f"make the batch size a multiple of {shards}")
    return jax.tree.map(
        lambda x: jax.make_array_from_process_local_data(batch_sharding(mesh, np.ndim(x)), np.asarray(x)),
        local_batch)


def put_global(mesh: Mesh, tree, batch_axis: int = 0):
    """Numpy values that every process holds in full -> global arrays with `batch_axis` split over
    data x fsdp where it divides (else replicated). For per-step batches small enough to all-gather
    (prompts, completions), so their size need not divide the mesh."""
    def put(x):
        x = np.asarray(x)
        spec = [None] * x.ndim
        spec[batch_axis] = BATCH_AXES
        sharding = NamedSharding(mesh, _fit(P(*spec), x.shape, mesh))
        return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])
    return jax.tree.map(put, tree)


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
    else JAX's own auto-detection (TPU VMs, SLURM, GKE TPU) when PERSONAX_DISTRIBUTED=auto or the
    platform's variables are set. A single process needs none of it."""
    env = os.environ
    coordinator = coordinator or env.get("PERSONAX_COORDINATOR")
    try:
        if num_processes is None and "PERSONAX_NUM_PROCESSES" in env:
            num_processes = int(env["PERSONAX_NUM_PROCESSES"])
        if process_id is None and "PERSONAX_PROCESS_ID" in env:
            process_id = int(env["PERSONAX_PROCESS_ID"])
    except ValueError as e:
        raise ValueError(f"PERSONAX_NUM_PROCESSES / PERSONAX_PROCESS_ID must be integers: {e}") from None
    if coordinator or num_processes or process_id is not None:
        jax.distributed.initialize(coordinator_address=coordinator, num_processes=num_processes,
                                   process_id=process_id)
    elif env.get("PERSONAX_DISTRIBUTED") == "auto" or env.get("TPU_WORKER_HOSTNAMES") or env.get("SLURM_JOB_ID"):
        jax.distributed.initialize()


# --- several processes (hosts): each runs this same program on its own devices ------------------

T = TypeVar("T")


def is_primary() -> bool:
    """Process 0 writes what one writer must write (metrics, reports, shared files)."""
    return jax.process_index() == 0


def host_rows(n: int) -> slice:
    """This process's contiguous share of `n` global rows (processes in order, equal shares)."""
    hosts, me = jax.process_count(), jax.process_index()
    if n % hosts:
        raise ValueError(f"{n} rows do not split evenly over {hosts} processes")
    return slice(me * n // hosts, (me + 1) * n // hosts)


def gather_rows(tree):
    """Every process's local rows, concatenated in process order, as numpy on every process."""
    if jax.process_count() == 1:
        return jax.tree.map(np.asarray, tree)
    return jax.tree.map(lambda x: np.asarray(multihost_utils.process_allgather(np.asarray(x), tiled=True)), tree)


def to_numpy(tree):
    """Global arrays -> their whole value as numpy on every process (a gather when they span hosts)."""
    def fetch(x):
        if not isinstance(x, jax.Array) or x.is_fully_addressable or x.is_fully_replicated:
            return np.asarray(x)
        return np.asarray(multihost_utils.process_allgather(x, tiled=True))
    return jax.tree.map(fetch, tree)


def gather_json(obj) -> list:
    """A JSON-able value from every process, in process order (the same list on every process)."""
    if jax.process_count() == 1:
        return [obj]
    data = np.frombuffer(json.dumps(obj).encode(), np.uint8)
    sizes = gather_rows(np.asarray([data.size], np.int64))
    padded = np.zeros(int(sizes.max()), np.uint8)
    padded[:data.size] = data
    rows = gather_rows(padded[None])
    return [json.loads(row[:n].tobytes()) for row, n in zip(rows, sizes)]


def host_state_for_checkpoint(state: dict) -> dict:
    """A data iterator's position as a checkpoint stores it: each host reads its own shard, so with
    several hosts every host's position is kept (orbax writes JSON items from process 0 only)."""
    return state if jax.process_count() == 1 else {"per_process": gather_json(state)}


def host_state_from_checkpoint(saved: dict, where: str) -> dict:
    hosts = jax.process_count()
    per_process = saved.get("per_process") if isinstance(saved, dict) else None
    if per_process is None:
        if hosts > 1:
            raise ValueError(f"{where}: the checkpoint's data position was written by one process; this run has "
                             f"{hosts} and shards the data differently (resume on one process or start afresh)")
        return saved
    if len(per_process) != hosts:
        raise ValueError(f"{where}: the checkpoint holds the data positions of {len(per_process)} processes, "
                         f"this run has {hosts}; resume with the same number of hosts")
    return per_process[jax.process_index()]


def primary_first(fn: Callable[[], T], name: str) -> T:
    """Runs `fn` on process 0, then on the others once it is done: for steps that write shared files
    (data splits, a trained tokenizer) which the others then find and read."""
    if jax.process_count() == 1:
        return fn()
    result = fn() if is_primary() else None
    multihost_utils.sync_global_devices(f"primary_first:{name}")
    return result if is_primary() else fn()
