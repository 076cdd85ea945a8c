"""Durable JSONL records: each line is appended with one write and fsynced before we move on.

A kill can at worst leave one partial last line; `open_store` cuts it off, so a rerun sees
exactly the records that were finished.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pathlib
import threading
from typing import Any, Iterator


class JsonlStore:
    def __init__(self, path: str | os.PathLike, key: str):
        self.path, self.key = pathlib.Path(path), key
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self.records: dict[str, dict[str, Any]] = {}
        self._recover()

    def _recover(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        good = data.rfind(b"\n") + 1
        if good < len(data):  # a write cut short by a kill
            with open(self.path, "r+b") as f:
                f.truncate(good)
        for n, line in enumerate(data[:good].decode("utf-8").splitlines(), 1):
            if line.strip():
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as e:
                    raise ValueError(f"{self.path}:{n}: corrupt record ({e.msg}); move the file aside to start over") from e
                self.records[obj[self.key]] = obj

    def __contains__(self, record_id: str) -> bool:
        return record_id in self.records

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(list(self.records.values()))

    def append(self, obj: dict[str, Any]) -> bool:
        """False (and nothing written) if a record with this id is already stored."""
        line = (json.dumps(obj, ensure_ascii=False) + "\n").encode("utf-8")
        with self._lock:
            if obj[self.key] in self.records:
                return False
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line)
                os.fsync(fd)
            finally:
                os.close(fd)
            self.records[obj[self.key]] = obj
            return True


class WorkdirBusy(RuntimeError):
    """Another live process holds the lock."""


@contextlib.contextmanager
def exclusive(path: pathlib.Path) -> Iterator[None]:
    """Holds an advisory lock for the duration; the OS drops it if the process dies."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise WorkdirBusy(f"{path}: another run is using this workdir (shard); wait for it or stop it") from None
        yield
