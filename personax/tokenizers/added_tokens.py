"""Added tokens (specials like `<|im_start|>`): found in raw text and split out before any BPE."""
from __future__ import annotations

import dataclasses

import regex


@dataclasses.dataclass(frozen=True)
class AddedToken:
    content: str
    id: int
    special: bool = True
    lstrip: bool = False  # swallow whitespace on the left
    rstrip: bool = False  # swallow whitespace on the right
    single_word: bool = False  # only match when not inside a word
    normalized: bool = False

    def to_json(self) -> dict:
        return {"id": self.id, "content": self.content, "single_word": self.single_word, "lstrip": self.lstrip,
                "rstrip": self.rstrip, "normalized": self.normalized, "special": self.special}

    @classmethod
    def from_json(cls, entry: dict) -> "AddedToken":
        return cls(content=entry["content"], id=int(entry["id"]), special=bool(entry.get("special", False)),
                   lstrip=bool(entry.get("lstrip", False)), rstrip=bool(entry.get("rstrip", False)),
                   single_word=bool(entry.get("single_word", False)),
                   normalized=bool(entry.get("normalized", False)))


_WORD = regex.compile(r"\w")


class AddedTokenSplitter:
    """Cuts text into plain pieces and added-token ids, taking the leftmost, then longest, match."""

    def __init__(self, tokens: list[AddedToken]):
        self.by_content = {t.content: t for t in tokens if t.content}
        ordered = sorted(self.by_content, key=len, reverse=True)  # alternation is leftmost-first: longest first
        self.pattern = regex.compile("|".join(map(regex.escape, ordered))) if ordered else None

    def split(self, text: str) -> list[str | AddedToken]:
        if self.pattern is None or not text:
            return [text] if text else []
        out: list[str | AddedToken] = []
        start = search = 0  # start: first char not yet emitted
        while (m := self.pattern.search(text, search)) is not None:
            token = self.by_content[m.group()]
            lo, hi = m.start(), m.end()
            if token.single_word and ((lo > 0 and _WORD.match(text[lo - 1])) or
                                      (hi < len(text) and _WORD.match(text[hi]))):
                search = lo + 1
                continue
            if token.lstrip:
                while lo > start and text[lo - 1].isspace():
                    lo -= 1
            if token.rstrip:
                while hi < len(text) and text[hi].isspace():
                    hi += 1
            if lo > start:
                out.append(text[start:lo])
            out.append(token)
            start = search = hi
        if start < len(text):
            out.append(text[start:])
        return out
