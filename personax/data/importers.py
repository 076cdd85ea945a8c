"""Readers for every supported file: the authors' SFT items, RL states, rich samples, run
statistics and token records, and PersonaAtlas JSONL in the released schema.

`load(path)` detects the kind from the first record's keys. Malformed records raise `RecordError`
naming file, line and field, or, with `skip_bad=True`, are skipped and returned in `errors`.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import pathlib
import re
from typing import Any, Callable, Iterator

from personax.data.examples import PPOptExample, build_examples
from personax.data.fields import Fields, RecordError
from personax.data.records import ReleasedRecord, RichRecord
from personax.data.reports import AccountingReport, RunStatistics, TokenReport
from personax.data.rich import persona_from
from personax.data.state import parse_state


def _decode(raw: bytes, where: str) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise RecordError(where, "<record>", f"invalid UTF-8 at byte {e.start}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise RecordError(where, "<record>", f"invalid JSON: {e.msg} (column {e.colno})") from None


def iter_raw(path: str | pathlib.Path) -> Iterator[tuple[str, Any]]:
    """(where, decoded object) per record: JSONL by line ('file:7'), JSON arrays by index
    ('file[3]'), a JSON object as one record. Decoding errors are yielded as RecordError values."""
    path = pathlib.Path(path)
    data = path.read_bytes()
    if path.suffix == ".json":
        try:
            obj = _decode(data, str(path))
        except RecordError as e:
            yield str(path), e
            return
        items = obj if isinstance(obj, list) else [obj]
        for i, item in enumerate(items):
            yield (f"{path}[{i}]" if isinstance(obj, list) else str(path)), item
        return
    for lineno, line in enumerate(data.split(b"\n"), 1):
        if line.strip():
            where = f"{path}:{lineno}"
            try:
                yield where, _decode(line, where)
            except RecordError as e:
                yield where, e


@dataclasses.dataclass(frozen=True)
class SFTItem:
    """The authors' `{input, output}`; history and query recovered from the state text."""
    input: str
    output: str
    history_texts: tuple[str, ...]
    query: str

    @classmethod
    def from_json(cls, f: Fields) -> "SFTItem":
        text, output = f.text("input", nonempty=True), f.text("output", nonempty=True)
        parsed = parse_state(text)
        if parsed is None:
            raise f.error("input", "expected the PPOpt state text (header, ### Conversation "
                          "sessions, ## Current Query, instructions)")
        if "<prompt>" not in output.lower():
            raise f.error("output", "expected <REASONING>…</REASONING><PROMPT>…</PROMPT>")
        return cls(text, output, tuple(parsed[0]), parsed[1])

    @property
    def persona_key(self) -> str:
        """SFT items carry no persona id: one history set stands for one persona."""
        digest = hashlib.sha1("\0".join(self.history_texts).encode()).hexdigest()[:12]
        return f"history_{digest}"

    def to_example(self) -> PPOptExample:
        return PPOptExample(state_id=self.persona_key, persona_id=self.persona_key, persona={},
                            history_texts=self.history_texts, original_query=self.query,
                            input=self.input, output=self.output)


_STATE_ID = re.compile(r"^interaction_(persona_.+)_\d{8}_\d{6}_\d+$")


@dataclasses.dataclass(frozen=True)
class RLState:
    state_id: str
    persona: dict[str, str]
    history_texts: tuple[str, ...]
    original_query: str
    input: str

    @classmethod
    def from_json(cls, f: Fields) -> "RLState":
        history = f.strings("history_texts", nonempty=True)
        for i, text in enumerate(history):
            if not text.strip():
                raise RecordError(f.where, f"history_texts[{i}]", "expected a non-empty session")
        return cls(state_id=f.text("state_id", nonempty=True),
                   persona=persona_from(f, "persona_features"), history_texts=tuple(history),
                   original_query=f.text("original_query", nonempty=True),
                   input=f.text("input", nonempty=True))

    @property
    def persona_id(self) -> str:
        # The authors' state ids are 'interaction_<persona id>_<date>_<time>_<microseconds>'.
        m = _STATE_ID.match(self.state_id)
        return m.group(1) if m else self.state_id

    def to_example(self) -> PPOptExample:
        return PPOptExample(state_id=self.state_id, persona_id=self.persona_id, persona=self.persona,
                            history_texts=self.history_texts, original_query=self.original_query,
                            input=self.input)


# kind -> (keys that identify it, record parser)
KINDS: dict[str, tuple[frozenset[str], Callable[[Fields], Any]]] = {
    # personax's own PPOpt examples (state_id + persona_id) before the authors' RL states.
    "example": (frozenset({"state_id", "persona_id", "history_texts", "input"}),
                PPOptExample.from_json),
    "sft": (frozenset({"input", "output"}), SFTItem.from_json),
    "rl": (frozenset({"state_id", "history_texts"}), RLState.from_json),
    "rich": (frozenset({"sample_id", "full_conversation"}), RichRecord.from_json),
    "released": (frozenset({"id", "role_utterances"}), ReleasedRecord.from_json),
    "statistics": (frozenset({"total_samples", "avg_turns"}), RunStatistics.from_json),
    "token_usage": (frozenset({"records", "statistics"}), TokenReport.from_json),
    "accounting": (frozenset({"totals", "tokens_by_module"}), AccountingReport.from_json),
}


def detect_kind(obj: Any) -> str | None:
    if isinstance(obj, dict):
        for kind, (keys, _) in KINDS.items():
            if keys <= obj.keys():
                return kind
    return None


@dataclasses.dataclass
class Loaded:
    path: str
    kind: str
    records: list[Any]
    errors: list[RecordError]


def load(path: str | pathlib.Path, kind: str | None = None, skip_bad: bool = False) -> Loaded:
    """All records of one file. The kind is detected from the first decodable record."""
    if kind is not None and kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; known: {sorted(KINDS)}")
    records, errors = [], []
    for where, obj in iter_raw(path):
        try:
            if isinstance(obj, RecordError):
                raise obj
            if kind is None:
                kind = detect_kind(obj)
                if kind is None:
                    keys = sorted(obj) if isinstance(obj, dict) else type(obj).__name__
                    raise RecordError(where, "<record>", f"unrecognised record (keys {keys}); "
                                      f"expected one of the kinds {sorted(KINDS)}")
            records.append(KINDS[kind][1](Fields(obj, where)))
        except RecordError as e:
            if not skip_bad:
                raise
            errors.append(e)
    if kind is None:
        first = f" (first: {errors[0]})" if errors else ""
        raise RecordError(str(path), "<file>", f"no readable records{first}")
    return Loaded(str(path), kind, records, errors)


def to_examples(loaded: Loaded) -> list[PPOptExample]:
    """PPOpt examples from any conversation or state file (conversations go through the builder)."""
    if loaded.kind == "example":
        return list(loaded.records)
    if loaded.kind in ("sft", "rl"):
        return [r.to_example() for r in loaded.records]
    if loaded.kind in ("rich", "released"):
        return build_examples(loaded.records)[0]
    raise ValueError(f"{loaded.path}: a {loaded.kind} file holds no conversations or states")
