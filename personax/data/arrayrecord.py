"""ArrayRecord shards of JSON records (conversations or PPOpt examples), readable by Grain."""
from __future__ import annotations

import json
import os
import pathlib
from typing import Any, Iterable

import grain
from array_record.python.array_record_module import ArrayRecordWriter


def to_bytes(record: Any) -> bytes:
    obj = record.to_json() if hasattr(record, "to_json") else record
    return json.dumps(obj, ensure_ascii=False).encode("utf-8")


def shard_paths(prefix: str | os.PathLike, num_shards: int) -> list[pathlib.Path]:
    return [pathlib.Path(f"{prefix}-{i:05d}-of-{num_shards:05d}.array_record")
            for i in range(num_shards)]


def write_shards(records: Iterable[Any], prefix: str | os.PathLike, num_shards: int = 1
                 ) -> list[pathlib.Path]:
    """Contiguous shards, so reading them in order gives the records in order. Each shard is
    written under a temporary name and renamed, so a crash never leaves a half shard behind."""
    if num_shards < 1:
        raise ValueError(f"num_shards must be at least 1, got {num_shards}")
    items = [to_bytes(r) for r in records]
    paths = shard_paths(prefix, num_shards)
    paths[0].parent.mkdir(parents=True, exist_ok=True)
    for i, path in enumerate(paths):
        tmp = path.with_name(path.name + ".tmp")
        # group_size:1 keeps random access cheap: reading one record decodes one record.
        writer = ArrayRecordWriter(str(tmp), "group_size:1")
        for item in items[i * len(items) // num_shards:(i + 1) * len(items) // num_shards]:
            writer.write(item)
        writer.close()
        os.replace(tmp, path)
    return paths


def read_shards(paths: Iterable[str | os.PathLike]) -> grain.sources.ArrayRecordDataSource:
    return grain.sources.ArrayRecordDataSource([str(p) for p in paths])
