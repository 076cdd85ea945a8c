"""`personax data build`: PersonaAtlas files -> PPOpt example splits on disk.

Conversations from all inputs are grouped by persona together (a persona may span shards);
the authors' SFT/RL files and exported examples pass through as they are. Splits are
persona-disjoint and seeded; the splits named in `label_splits` get teacher labels.
"""
from __future__ import annotations

import dataclasses
import json
import os
import pathlib
from typing import Mapping, Sequence

from personax.data.arrayrecord import write_shards
from personax.data.examples import MAX_HISTORY, PPOptExample, build_examples, first_per_persona, split_examples
from personax.data.importers import load, to_examples
from personax.data.teacher import Teacher, label_examples


def parse_sizes(spec: str) -> dict[str, int | float]:
    """'sft=250,rl=279,eval=0.1' -> {'sft': 250, 'rl': 279, 'eval': 0.1}."""
    sizes: dict[str, int | float] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, _, value = part.partition("=")
        try:
            sizes[name.strip()] = float(value) if "." in value else int(value)
        except ValueError:
            raise ValueError(f"split size {part!r}: expected name=count or name=fraction") from None
        if not name.strip():
            raise ValueError(f"split size {part!r}: the split has no name")
    if not sizes:
        raise ValueError(f"no splits in {spec!r}")
    return sizes


@dataclasses.dataclass
class BuildReport:
    counts: dict[str, int]
    labelled: dict[str, int]
    personas: int
    skipped_no_history: int
    bad_records: int
    files: list[pathlib.Path]


def _write_jsonl(path: pathlib.Path, examples: Sequence[PPOptExample]) -> pathlib.Path:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for e in examples:
            f.write(json.dumps(e.to_json(), ensure_ascii=False) + "\n")
    os.replace(tmp, path)
    return path


def build_dataset(inputs: Sequence[str | os.PathLike], out_dir: str | os.PathLike,
                  sizes: Mapping[str, int | float], seed: int = 0, teacher: Teacher | None = None,
                  label_splits: Sequence[str] = ("sft",), max_history: int = MAX_HISTORY,
                  skip_bad: bool = False, arrayrecord_shards: int = 0, tfds: bool = False,
                  concurrency: int = 8, states_per_persona: int = 1, heldout_states_per_persona: int = 1,
                  multi_state_splits: Sequence[str] = ("sft", "rl")) -> BuildReport:
    """Splits are persona-disjoint. The splits in `multi_state_splits` hold up to `states_per_persona`
    states per persona, every other (held-out) split up to `heldout_states_per_persona`."""
    conversations, ready, bad = [], [], 0
    for path in inputs:
        loaded = load(path, skip_bad=skip_bad)
        bad += len(loaded.errors)
        if loaded.kind in ("rich", "released"):
            conversations += loaded.records
        else:
            ready += to_examples(loaded)
    most = max(states_per_persona, heldout_states_per_persona)
    built, stats = build_examples(conversations, max_history, most)
    splits = split_examples(built + ready, sizes, seed)
    if most > 1:  # else each persona has one built state
        splits = {name: first_per_persona(exs, states_per_persona if name in multi_state_splits
                                          else heldout_states_per_persona) for name, exs in splits.items()}
    if teacher is not None:
        for name in label_splits:
            splits[name] = label_examples(teacher, splits[name], concurrency)
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = [_write_jsonl(out / f"{name}.jsonl", exs) for name, exs in splits.items()]
    if arrayrecord_shards:
        for name, exs in splits.items():
            files += write_shards(exs, out / "arrayrecord" / name, arrayrecord_shards)
    if tfds:
        from personax.data.tfds_builder import prepare  # tfds is slow to import; only when asked
        prepare(out / "tfds", "ppopt", splits)
        files.append(out / "tfds")
    return BuildReport(counts={k: len(v) for k, v in splits.items()},
                       labelled={k: sum(e.output is not None for e in v) for k, v in splits.items()},
                       personas=len({e.persona_id for v in splits.values() for e in v}),
                       skipped_no_history=stats.skipped_no_history, bad_records=bad, files=files)
