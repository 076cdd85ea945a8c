"""Preference pairs `(context, chosen, rejected)`: the reward model's training data, as JSONL.

One pair a line: `{"context": str, "chosen": str, "rejected": str}` plus an optional `"id"` (str)
and `"margin"` (number, how much better chosen scored; informational). The context is what the
policy read (the PPOpt state text); chosen and rejected are two rewrites of its current query.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import pathlib
from typing import Iterable, Sequence

from personax.data.fields import Fields, RecordError


@dataclasses.dataclass(frozen=True)
class PreferencePair:
    context: str
    chosen: str
    rejected: str
    id: str = ""
    margin: float | None = None

    def to_json(self) -> dict:
        return {k: v for k, v in dataclasses.asdict(self).items() if v not in ("", None)}


def _pair(f: Fields) -> PreferencePair:
    context, chosen, rejected = (f.text(k, nonempty=True) for k in ("context", "chosen", "rejected"))
    if chosen == rejected:
        raise f.error("rejected", "is identical to 'chosen': a pair must compare two different responses")
    margin = f.get("margin", float, optional=True)
    return PreferencePair(context, chosen, rejected, f.text("id", optional=True) or "",
                          None if margin is None else float(margin))


def read_pairs(path: str | pathlib.Path) -> list[PreferencePair]:
    """Every pair in a JSONL file; blank lines are skipped. A bad line raises RecordError naming
    `file:line` and the field."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"preference pairs file {str(path)!r} not found")
    pairs = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise RecordError(where, "<record>", f"not valid JSON ({e.msg} at column {e.colno})") from None
        pairs.append(_pair(Fields(obj, where)))
    if not pairs:
        raise ValueError(f"{path}: no preference pairs (expected one JSON object a line with "
                         f"context, chosen and rejected)")
    return pairs


def write_pairs(path: str | pathlib.Path, pairs: Iterable[PreferencePair]) -> int:
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(p.to_json(), ensure_ascii=False) for p in pairs]
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    tmp.replace(path)
    return len(lines)


def split_pairs(pairs: Sequence[PreferencePair], eval_fraction: float, seed: int
                ) -> tuple[list[PreferencePair], list[PreferencePair]]:
    """(train, held-out), split by context: every pair of a context lands on the same side, so
    held-out accuracy measures contexts the model never saw. The side is a seeded hash of the context."""
    if not 0.0 <= eval_fraction < 1.0:
        raise ValueError(f"eval_fraction must be in [0, 1), got {eval_fraction}")

    def held_out(p: PreferencePair) -> bool:
        digest = hashlib.sha256(f"{seed}\0{p.context}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2 ** 64 < eval_fraction

    train = [p for p in pairs if not held_out(p)]
    return train, [p for p in pairs if held_out(p)]
