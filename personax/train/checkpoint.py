"""Checkpoints with orbax: parameters, optimizer state, step, RNG and the data position.

Saves are asynchronous (training continues while bytes are written; `wait()` blocks). Restore
takes abstract targets carrying shardings, so a checkpoint written on one mesh loads onto
another. When training LoRA only the adapters are saved as `params`: the base comes from the
pretrained weights again.
"""
from __future__ import annotations

import os
import pathlib
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp


def abstract_like(tree, shardings=None):
    """ShapeDtypeStructs for `tree` (optionally with target shardings) to restore into."""
    if shardings is None:
        return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=getattr(x, "sharding", None)), tree)
    return jax.tree.map(lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s), tree, shardings)


class Checkpointer:
    def __init__(self, directory: str, max_to_keep: int | None = 3, async_save: bool = True):
        self.directory = os.path.abspath(directory)
        options = ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, enable_async_checkpointing=async_save,
                                               create=True)
        # Every item's handler named up front, so reading a step's metadata does not warn once per item.
        handlers = {"params": ocp.StandardCheckpointHandler(), "opt_state": ocp.StandardCheckpointHandler(),
                    "meta": ocp.JsonCheckpointHandler(), "data": ocp.JsonCheckpointHandler()}
        self._manager = ocp.CheckpointManager(self.directory, options=options, item_handlers=handlers)

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def all_steps(self) -> list[int]:
        return list(self._manager.all_steps())

    def commit_time_ns(self, step: int) -> int | None:
        """When `step`'s checkpoint was committed (orbax's step metadata; copies and hard links keep it):
        tells a checkpoint apart from another one saved at the same step by another run."""
        return getattr(self._manager.metadata(step), "commit_timestamp_nsecs", None)

    def save(self, step: int, params, opt_state=None, rng_key: jax.Array | None = None,
             data_state: dict | None = None, extra: dict | None = None) -> None:
        meta = {"step": int(step), "extra": extra or {}}
        if rng_key is not None:
            meta["rng_key_data"] = np.asarray(jax.random.key_data(rng_key)).tolist()
        items = {"params": ocp.args.StandardSave(params), "meta": ocp.args.JsonSave(meta)}
        if opt_state is not None:
            items["opt_state"] = ocp.args.StandardSave(opt_state)
        if data_state is not None:
            items["data"] = ocp.args.JsonSave(data_state)
        self._manager.save(step, args=ocp.args.Composite(**items))

    def restore(self, step: int | None = None, params=None, opt_state=None) -> dict[str, Any]:
        """`params`/`opt_state`: abstract targets (see `abstract_like`). Returns a dict with
        params, opt_state (if saved and asked for), step, rng_key, data_state, extra."""
        step = self.latest_step() if step is None else step
        if step is None:
            raise FileNotFoundError(f"no checkpoint in {self.directory}")
        present = {p.name for p in (pathlib.Path(self.directory) / str(step)).iterdir()}
        items = {"meta": ocp.args.JsonRestore()}
        items["params"] = ocp.args.StandardRestore(params)
        if opt_state is not None and "opt_state" in present:
            items["opt_state"] = ocp.args.StandardRestore(opt_state)
        if "data" in present:
            items["data"] = ocp.args.JsonRestore()
        restored = self._manager.restore(step, args=ocp.args.Composite(**items))
        meta = restored["meta"]
        key = meta.get("rng_key_data")
        return {
            "step": meta["step"],
            "params": restored["params"],
            "opt_state": restored.get("opt_state") if "opt_state" in items else None,
            "rng_key": None if key is None else jax.random.wrap_key_data(np.asarray(key, np.uint32)),
            "data_state": restored.get("data") if "data" in items else None,
            "extra": meta.get("extra", {}),
        }

    def wait(self) -> None:
        self._manager.wait_until_finished()

    def close(self) -> None:
        self._manager.wait_until_finished()
        self._manager.close()
