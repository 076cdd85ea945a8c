"""GPT-2's reversible byte <-> printable-unicode table used by byte-level BPE vocabularies."""
from __future__ import annotations

import functools

# GPT-2's pre-tokenization regex (the `tokenizers` ByteLevel pre-tokenizer's default).
GPT2_PATTERN = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"


@functools.cache
def byte_to_char() -> tuple[str, ...]:
    # Printable Latin-1 bytes stand for themselves; the rest (controls, space, ...) move to 256 and up, in order,
    # so that no vocabulary token contains whitespace or control characters.
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table = {b: chr(b) for b in printable}
    moved = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + moved)
            moved += 1
    return tuple(table[b] for b in range(256))


@functools.cache
def char_to_byte() -> dict[str, int]:
    return {c: b for b, c in enumerate(byte_to_char())}


def encode_bytes(text: str) -> str:
    table = byte_to_char()
    return "".join(table[b] for b in text.encode("utf-8"))


def decode_chars(token: str) -> bytes:
    # A character outside the table (only possible in a hand-made vocabulary) keeps its own UTF-8 bytes.
    table = char_to_byte()
    return b"".join(bytes([table[c]]) if c in table else c.encode("utf-8") for c in token)
