"""Post-processors of an HF `tokenizer.json` (what `add_special_tokens=True` adds), built by type name."""
from __future__ import annotations

from collections.abc import Callable

from personax.tokenizers.pretokenize import SpecError

PostProcessor = Callable[[list[int]], list[int]]


def _template(spec: dict) -> PostProcessor:
    specials = {name: list(entry["ids"]) for name, entry in spec.get("special_tokens", {}).items()}
    parts: list[list[int] | None] = []  # None marks where the sequence goes
    for item in spec["single"]:
        if "Sequence" in item:
            parts.append(None)
        elif "SpecialToken" in item:
            name = item["SpecialToken"]["id"]
            if name not in specials:
                raise SpecError(f"TemplateProcessing uses special token {name!r} missing from its special_tokens")
            parts.append(specials[name])
        else:
            raise SpecError(f"TemplateProcessing item must be 'Sequence' or 'SpecialToken', got {item!r}")
    return lambda ids: [i for part in parts for i in (ids if part is None else part)]


def _cls_sep(spec: dict) -> PostProcessor:
    cls_id, sep_id = spec["cls"][1], spec["sep"][1]
    return lambda ids: [cls_id, *ids, sep_id]


def _sequence(spec: dict) -> PostProcessor:
    steps = [build_post_processor(s) for s in spec["processors"]]

    def run(ids: list[int]) -> list[int]:
        for step in steps:
            ids = step(ids)
        return ids
    return run


POST_PROCESSORS: dict[str, Callable[[dict], PostProcessor]] = {
    "TemplateProcessing": _template,
    "ByteLevel": lambda spec: list,  # only adjusts offsets, never ids
    "RobertaProcessing": _cls_sep,
    "BertProcessing": _cls_sep,
    "Sequence": _sequence,
}


def build_post_processor(spec: dict | None) -> PostProcessor:
    if spec is None:
        return list
    kind = spec.get("type")
    if kind not in POST_PROCESSORS:
        raise SpecError(f"post_processor type {kind!r} is not supported; expected one of {sorted(POST_PROCESSORS)}")
    return POST_PROCESSORS[kind](spec)
