"""Normalizers and pre-tokenizers of an HF `tokenizer.json`, built from their JSON specs by type name."""
from __future__ import annotations

import unicodedata
from collections.abc import Callable

import regex

from personax.tokenizers import byte_level

Normalizer = Callable[[str], str]
PreTokenizer = Callable[[list[str]], list[str]]  # splits in, finer splits out


class SpecError(ValueError):
    """An unsupported or malformed component spec; the loader adds the file name."""


def _unicode_form(form: str) -> Callable[[dict], Normalizer]:
    return lambda spec: (lambda text: unicodedata.normalize(form, text))


def _sequence_normalizer(spec: dict) -> Normalizer:
    steps = [build_normalizer(s) for s in spec["normalizers"]]

    def run(text: str) -> str:
        for step in steps:
            text = step(text)
        return text
    return run


NORMALIZERS: dict[str, Callable[[dict], Normalizer]] = {
    "NFC": _unicode_form("NFC"), "NFD": _unicode_form("NFD"),
    "NFKC": _unicode_form("NFKC"), "NFKD": _unicode_form("NFKD"),
    "Lowercase": lambda spec: str.lower,
    "Sequence": _sequence_normalizer,
}


def build_normalizer(spec: dict | None) -> Normalizer:
    if spec is None:
        return lambda text: text
    kind = spec.get("type")
    if kind not in NORMALIZERS:
        raise SpecError(f"normalizer type {kind!r} is not supported; expected one of {sorted(NORMALIZERS)} or null")
    return NORMALIZERS[kind](spec)


SPLIT_BEHAVIORS = ("Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous")


def split_by_pattern(text: str, pattern: regex.Pattern, behavior: str, invert: bool = False) -> list[str]:
    """`tokenizers`' Split: cut `text` around the matches of `pattern` as `behavior` says."""
    pieces: list[tuple[str, bool]] = []  # (text, is_delimiter)
    pos = 0
    for m in pattern.finditer(text):
        if m.start() == m.end():
            continue
        if m.start() > pos:
            pieces.append((text[pos:m.start()], invert))
        pieces.append((m.group(), not invert))
        pos = m.end()
    if pos < len(text):
        pieces.append((text[pos:], invert))

    if behavior == "Isolated":
        return [piece for piece, _ in pieces]
    if behavior == "Removed":
        return [piece for piece, is_delim in pieces if not is_delim]
    # The merging behaviours fold over the pieces as `tokenizers` does: a delimiter joins its neighbour only
    # when that neighbour is not a delimiter itself; Contiguous joins runs of equal kind. MergedWithNext is
    # MergedWithPrevious read from the right.
    backwards = behavior == "MergedWithNext"
    out: list[str] = []
    prev_delim = False
    for piece, is_delim in (reversed(pieces) if backwards else pieces):
        glue = is_delim == prev_delim if behavior == "Contiguous" else is_delim and not prev_delim
        if glue and out:
            out[-1] = piece + out[-1] if backwards else out[-1] + piece
        else:
            out.append(piece)
        prev_delim = is_delim
    return out[::-1] if backwards else out


def _split(spec: dict) -> PreTokenizer:
    pat = spec["pattern"]
    if "Regex" in pat:
        compiled = regex.compile(pat["Regex"])
    elif "String" in pat:
        compiled = regex.compile(regex.escape(pat["String"]))
    else:
        raise SpecError(f"Split pattern must have 'Regex' or 'String', got {pat!r}")
    behavior, invert = spec["behavior"], bool(spec.get("invert", False))
    if behavior not in SPLIT_BEHAVIORS:
        raise SpecError(f"Split behavior {behavior!r} is not supported; expected one of {SPLIT_BEHAVIORS}")
    return lambda splits: [p for s in splits for p in split_by_pattern(s, compiled, behavior, invert)]


def _digits(spec: dict) -> PreTokenizer:
    individual = bool(spec.get("individual_digits", False))
    pattern = regex.compile(r"\p{N}" if individual else r"\p{N}+")
    return lambda splits: [p for s in splits for p in split_by_pattern(s, pattern, "Isolated")]


def _byte_level(spec: dict) -> PreTokenizer:
    gpt2 = regex.compile(byte_level.GPT2_PATTERN) if spec.get("use_regex", True) else None
    prefix = bool(spec.get("add_prefix_space", False))

    def run(splits: list[str]) -> list[str]:
        out = []
        for s in filter(None, splits):  # an empty split stays empty: no prefix space for it
            if prefix and not s.startswith(" "):
                s = " " + s
            out.extend(split_by_pattern(s, gpt2, "Isolated") if gpt2 else [s])
        return [byte_level.encode_bytes(p) for p in out]
    return run


def _sequence_pre(spec: dict) -> PreTokenizer:
    steps = [build_pre_tokenizer(s) for s in spec["pretokenizers"]]

    def run(splits: list[str]) -> list[str]:
        for step in steps:
            splits = step(splits)
        return splits
    return run


PRE_TOKENIZERS: dict[str, Callable[[dict], PreTokenizer]] = {
    "ByteLevel": _byte_level, "Split": _split, "Digits": _digits, "Sequence": _sequence_pre,
}


def build_pre_tokenizer(spec: dict | None) -> PreTokenizer:
    kind = None if spec is None else spec.get("type")
    if kind not in PRE_TOKENIZERS:
        raise SpecError(f"pre_tokenizer type {kind!r} is not supported; expected one of {sorted(PRE_TOKENIZERS)}")
    return PRE_TOKENIZERS[kind](spec)


def has_byte_level(spec: dict | None) -> bool:
    if spec is None:
        return False
    if spec.get("type") == "Sequence":
        return any(has_byte_level(s) for s in spec.get("pretokenizers", []))
    return spec.get("type") == "ByteLevel"
