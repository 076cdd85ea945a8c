"""The Grain input pipeline: source -> PPOpt examples -> shard -> shuffle -> tokenize ->
(pad | pack) -> batch, with fixed shapes and a checkpointable iterator.

Modes:
- "sft": rows `tokens`, `loss_mask` (1 on completion tokens), `segment_ids` (0 = padding; packed
  rows number their sequences 1, 2, ...), `positions` (restart at 0 per sequence), each [B, L].
  `trim_to_bucket` cuts such a batch to the shortest of a few lengths that holds it (sft.length_buckets).
- "prompt": `prompt_tokens`, `prompt_mask` [B, L] left-padded, and `example_index` [B] (the
  example's position in the source) to find its persona and original query again.
`iter(dataset)` gives a grain iterator whose `get_state()`/`set_state()` (or grain's orbax
checkpoint handler) resume it exactly.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Literal

import grain
import numpy as np

from personax.data.sources import example_dataset
from personax.data.tokenize import ChatTokenizer, pad_right, prompt_features, sft_features


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    mode: Literal["sft", "prompt"] = "sft"
    max_len: int = 4096
    batch_size: int = 8
    pack: bool = False  # sft only: first-fit packing into rows of max_len
    num_packing_bins: int = 8
    shuffle: bool = True
    seed: int = 0
    num_epochs: int | None = 1  # None repeats forever
    pad_id: int | None = None  # None: the tokenizer's pad_id, else 0
    drop_remainder: bool = True


def shard(ds: grain.MapDataset, options: grain.sharding.ShardOptions) -> grain.MapDataset:
    """This host's share; with drop_remainder every host gets the same number of examples."""
    count, index = options.shard_count, options.shard_index
    if count == 1:
        return ds
    if options.drop_remainder:
        ds = ds[:len(ds) // count * count]
    return ds[index::count]


def _unpack_names(row: dict[str, np.ndarray], pad_id: int) -> dict[str, np.ndarray]:
    segment_ids = row["tokens_segment_ids"]
    return {"tokens": np.where(segment_ids > 0, row["tokens"], pad_id).astype(np.int32),
            "loss_mask": row["loss_mask"].astype(np.int32),
            "segment_ids": segment_ids.astype(np.int32),
            "positions": row["tokens_positions"].astype(np.int32)}


def bucket_lengths(buckets, max_len: int) -> tuple[int, ...]:
    """The sorted row lengths a batch may be cut to, ending at `max_len`; a clear error for bad ones."""
    buckets = tuple(int(b) for b in buckets)
    if any(b < 1 or b > max_len for b in buckets) or list(buckets) != sorted(set(buckets)):
        raise ValueError(f"length_buckets={buckets} must be increasing lengths in 1..max_len={max_len}")
    return buckets if buckets and buckets[-1] == max_len else (*buckets, max_len)


def used_length(batch: dict[str, np.ndarray]) -> int:
    """Columns up to the last real token of any row (sft rows hold their sequences from position 0)."""
    used = np.flatnonzero(np.asarray(batch["segment_ids"]).any(axis=0))
    return int(used[-1]) + 1 if used.size else 1


def trim_to_bucket(batch: dict[str, np.ndarray], buckets: tuple[int, ...], length: int) -> dict[str, np.ndarray]:
    """Cut a [B, L] sft batch to the shortest of `buckets` (from `bucket_lengths`) holding `length`
    columns (`used_length`, or the most over hosts)."""
    keep = next(b for b in buckets if b >= length)
    return {k: v[:, :keep] for k, v in batch.items()}


def build_pipeline(source: Any, tokenizer: ChatTokenizer, config: PipelineConfig,
                   shard_options: grain.sharding.ShardOptions = grain.sharding.NoSharding(),
                   ) -> grain.IterDataset:
    c = config
    pad_id = c.pad_id if c.pad_id is not None else int(getattr(tokenizer, "pad_id", 0) or 0)
    ds = example_dataset(source)
    # A repeated dataset asks its parents for indices past the end (epoch e: e * len + i, so each epoch
    # reshuffles); the source wraps them, and so must the recorded index.
    ds = ds.map_with_index(lambda i, e, n=len(ds): (i % n, e))
    ds = shard(ds, shard_options)
    if c.shuffle:
        ds = ds.shuffle(seed=c.seed)
    ds = ds.repeat(c.num_epochs)
    if c.mode == "prompt":
        if c.pack:
            raise ValueError("packing applies to the sft mode only")
        ds = ds.map(lambda ie: {**prompt_features(tokenizer, ie[1], c.max_len, pad_id),
                                "example_index": np.int32(ie[0])})
        return ds.to_iter_dataset().batch(c.batch_size, drop_remainder=c.drop_remainder)
    if c.mode != "sft":
        raise ValueError(f"unknown pipeline mode {c.mode!r}; expected 'sft' or 'prompt'")
    it = ds.map(lambda ie: sft_features(tokenizer, ie[1], c.max_len)).to_iter_dataset()
    if c.pack:
        it = grain.experimental.FirstFitPackIterDataset(
            it, length_struct={"tokens": c.max_len, "loss_mask": c.max_len},
            num_packing_bins=c.num_packing_bins, seed=c.seed, shuffle_bins=c.shuffle)
        it = it.map(lambda row: _unpack_names(row, pad_id))
    else:
        it = it.map(lambda f: pad_right(f, c.max_len, pad_id))
    return it.batch(c.batch_size, drop_remainder=c.drop_remainder)
