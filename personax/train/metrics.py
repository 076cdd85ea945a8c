"""Per-step metrics to JSONL and TensorBoard event files; resumable without duplicate steps."""
from __future__ import annotations

import json
import math
import os
import pathlib

import numpy as np


def _scalar(v):
    v = np.asarray(v)
    return float(v) if v.size == 1 else None


class MetricWriter:
    """`write(step, metrics)` appends one JSON line and TensorBoard scalars. Opening with
    `resume_step` drops lines past that step (written after the last checkpoint, about to be redone)."""

    def __init__(self, directory: str | os.PathLike, resume_step: int | None = None, tensorboard: bool = True):
        self.dir = pathlib.Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / "metrics.jsonl"
        if self.path.exists():
            keep = [line for line in self.path.read_text().splitlines()
                    if line.strip() and resume_step is not None and json.loads(line)["step"] <= resume_step]
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text("".join(line + "\n" for line in keep))
            os.replace(tmp, self.path)
        self._tb = None
        if tensorboard:
            from tensorboardX import SummaryWriter
            self._tb = SummaryWriter(str(self.dir / "tb"))

    def write(self, step: int, metrics: dict, text: dict[str, str] | None = None) -> dict:
        row = {"step": int(step)}
        for k, v in metrics.items():
            s = _scalar(v)
            if s is not None:
                row[k] = s if math.isfinite(s) else None
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        if self._tb is not None:
            for k, v in row.items():
                if k != "step" and v is not None:
                    self._tb.add_scalar(k, v, step)
            for k, v in (text or {}).items():
                self._tb.add_text(k, v, step)
        return row

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()


def read_metrics(directory: str | os.PathLike) -> list[dict]:
    path = pathlib.Path(directory) / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
