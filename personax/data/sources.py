"""Any supported input as a `grain.MapDataset` of PPOpt examples.

Inputs: a file path (released/rich JSONL or JSON, the authors' SFT/RL files, exported examples),
a sequence of records or examples, or a random-access source (ArrayRecord shards,
`tfds.data_source`) whose items are JSON bytes (or TFDS dicts with a `json` feature).
Conversations are grouped by persona, so they are read whole; examples, SFT items and RL states
are converted item by item, lazily.
"""
from __future__ import annotations

import json
import pathlib
from typing import Any, Sequence

import grain

from personax.data.examples import PPOptExample, build_examples
from personax.data.fields import Fields, RecordError
from personax.data.importers import KINDS, detect_kind, load, to_examples
from personax.data.records import ReleasedRecord, RichRecord

_CONVERSATIONS = ("rich", "released")
_PER_ITEM = ("example", "sft", "rl")


def decode_item(item: Any, where: str) -> Any:
    """A stored item as decoded JSON: raw bytes, a TFDS feature dict, or an object already."""
    if isinstance(item, dict) and "json" in item and len(item) <= 2:
        item = item["json"]
    if isinstance(item, (bytes, str)):
        try:
            return json.loads(item)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise RecordError(where, "<record>", f"invalid JSON: {e}") from None
    return item


def item_to_example(obj: Any, where: str) -> PPOptExample:
    if isinstance(obj, PPOptExample):
        return obj
    kind = detect_kind(obj)
    if kind not in _PER_ITEM:
        raise RecordError(where, "<record>", f"expected a PPOpt example, SFT item or RL state, "
                          f"got {kind or 'an unrecognised record'}")
    rec = KINDS[kind][1](Fields(obj, where))
    return rec if kind == "example" else rec.to_example()


def _from_items(items: Any, name: str) -> grain.MapDataset:
    first = decode_item(items[0], f"{name}[0]")
    if isinstance(first, (ReleasedRecord, RichRecord)) or detect_kind(first) in _CONVERSATIONS:
        records = []
        for i in range(len(items)):
            obj = decode_item(items[i], f"{name}[{i}]")
            if isinstance(obj, dict):
                obj = KINDS[detect_kind(obj) or "released"][1](Fields(obj, f"{name}[{i}]"))
            records.append(obj)
        return grain.MapDataset.source(build_examples(records)[0])
    return grain.MapDataset.source(items).map_with_index(
        lambda i, item: item_to_example(decode_item(item, f"{name}[{i}]"), f"{name}[{i}]"))


def example_dataset(source: str | pathlib.Path | Sequence[Any] | grain.sources.RandomAccessDataSource
                    ) -> grain.MapDataset:
    if isinstance(source, (str, pathlib.Path)):
        return grain.MapDataset.source(to_examples(load(source)))
    if not len(source):
        raise ValueError("example_dataset: the source is empty")
    return _from_items(source, type(source).__name__)
