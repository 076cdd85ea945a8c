"""Sweeps: `sweep.grid` pairs experiment fields with value lists; every combination (a point) runs
through the launch backend in its own workdir `WORKDIR/<point>`, one after the other, and a summary
table (`WORKDIR/sweep_summary.md` and `.json`) collects each point's last logged metrics of
`sweep.stage`. Points that finished before are cheap to rerun: every stage resumes."""
from __future__ import annotations

import itertools
import json
import math
import pathlib
from typing import Callable

import ml_collections

from launch.shell import Shell
from personax.train.metrics import read_metrics


def grid_points(pairs) -> list[tuple[str, dict[str, object]]]:
    """`((field, values), ...)` -> [(point name, {field: value})] in grid order; the name is
    `leaf=value,...` (e.g. seed=1,group_size=8)."""
    try:
        grid = {field: values for field, values in pairs}
    except (TypeError, ValueError):
        raise ValueError(f"sweep.grid must be pairs (field, values), got {pairs!r}") from None
    for field, values in grid.items():
        if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__") or not len(values):
            raise ValueError(f"sweep.grid[{field!r}] must be a non-empty list of values, got {values!r}")
    leaves = [f.split(".")[-1] for f in grid]
    if len(set(leaves)) != len(leaves):
        leaves = [f.replace(".", "_") for f in grid]
    points = []
    for combo in itertools.product(*grid.values()):
        name = ",".join(f"{leaf}={value}" for leaf, value in zip(leaves, combo))
        if "/" in name:
            raise ValueError(f"sweep point {name!r}: values may not contain '/' (they name directories)")
        points.append((name, dict(zip(grid, combo))))
    return points


def point_config(lc: ml_collections.ConfigDict, index: int, name: str, values: dict) -> ml_collections.ConfigDict:
    point = ml_collections.ConfigDict(lc.to_dict())
    point.sweep.grid = ()
    point.workdir = f"{lc.workdir.rstrip('/')}/{name}"
    point.compilation_cache_dir = lc.compilation_cache_dir or f"{lc.workdir.rstrip('/')}/jax_cache"  # shared by points
    point.overrides = (*lc.overrides, *(f"{field}={value}" for field, value in values.items()))
    if lc.backend == "gke":  # JobSet names are unique per namespace
        point.name = f"{lc.name}-{index}"
    return point


def summary_rows(lc: ml_collections.ConfigDict, points, codes: list[int]) -> list[dict]:
    rows = []
    for (name, values), code in zip(points, codes):
        logged = read_metrics(pathlib.Path(lc.workdir) / name / lc.sweep.stage)
        last = logged[-1] if logged else {}
        row = {"point": name, **{k: v for k, v in values.items()}, "exit": code, "step": last.get("step")}
        rows.append(row | {m: last.get(m) for m in lc.sweep.metrics})
    return rows


def _cell(v) -> str:
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.4g}"
    return "" if v is None else str(v)


def markdown_table(rows: list[dict]) -> str:
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_cell(r[c]) for c in columns) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def run_sweep(lc: ml_collections.ConfigDict, launch: Callable[[ml_collections.ConfigDict], int], shell: Shell) -> int:
    if not lc.workdir:
        raise ValueError("launch config: `workdir` (the sweep's root) is empty")
    points = grid_points(lc.sweep.grid)
    codes = []
    for i, (name, values) in enumerate(points):
        shell.say(f"launch: sweep point {i + 1}/{len(points)}: {name}")
        codes.append(launch(point_config(lc, i, name, values)))
    if shell.dry_run:
        return 0
    rows = summary_rows(lc, points, codes)
    root = pathlib.Path(lc.workdir)
    (root / "sweep_summary.json").write_text(json.dumps(rows, indent=2) + "\n")
    table = markdown_table(rows)
    (root / "sweep_summary.md").write_text(f"# Sweep {lc.name}: last `{lc.sweep.stage}` metrics per point\n\n{table}")
    shell.say(table)
    return next((c for c in codes if c), 0)
