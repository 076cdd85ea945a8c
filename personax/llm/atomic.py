"""Atomic file writes: readers in any task, thread or process see the old file or the new one."""
from __future__ import annotations

import json
import os
import pathlib
import tempfile
from typing import Any


def write_json(path: str | os.PathLike, obj: Any, **dump_kwargs: Any) -> pathlib.Path:
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # The temporary file lives in the target directory so that the rename stays on one filesystem.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name[:16]}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(obj, f, ensure_ascii=False, **dump_kwargs)
        os.replace(tmp, path)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise
    return path
