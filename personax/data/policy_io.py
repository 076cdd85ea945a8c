"""The policy's output format: `<REASONING>profile</REASONING><PROMPT>rewrite</PROMPT>` (SPEC §2.1)."""
from __future__ import annotations

import collections
import dataclasses
import re
from typing import Iterable, Literal

_REASONING = re.compile(r"<reasoning>(.*?)(?:</reasoning>|$)", re.S | re.I)
_REASONING_CLOSED = re.compile(r"<reasoning>.*?</reasoning>", re.S | re.I)
_PROMPT = re.compile(r"<prompt>(.*?)(?:</prompt>|$)", re.S | re.I)

Status = Literal["ok", "no_prompt_tag", "empty"]
REPEAT_NGRAM = 4  # words: long enough that the teacher's "they wrote ..., so label: value" frame never repeats


def format_target(reasoning: str, prompt: str) -> str:
    """An SFT target in the authors' layout (no newlines around the tags)."""
    return f"<REASONING>{reasoning.strip()}</REASONING><PROMPT>{prompt.strip()}</PROMPT>"


@dataclasses.dataclass(frozen=True)
class ParsedOutput:
    reasoning: str
    prompt: str  # what goes to the deployed LLM
    status: Status  # "no_prompt_tag": whole output used; "empty": fell back to the original query


def parse_output(text: str, original_query: str) -> ParsedOutput:
    reasoning_match = _REASONING.search(text)
    reasoning = reasoning_match.group(1).strip() if reasoning_match else ""
    prompt_match = _PROMPT.search(text)
    status: Status = "ok"
    prompt = prompt_match.group(1).strip() if prompt_match else text.strip()
    if not prompt_match:
        status = "no_prompt_tag"
    if not prompt:
        prompt, status = original_query, "empty"
    return ParsedOutput(reasoning=reasoning, prompt=prompt, status=status)


def reasoning_close_end(text: str) -> int | None:
    """Where the REASONING that `parse_output` reads ends: the offset just past the first `</REASONING>`
    after the first `<REASONING>` (any case); None while it is open or absent."""
    m = _REASONING_CLOSED.search(text)
    return m.end() if m else None


def count_statuses(parsed: Iterable[ParsedOutput]) -> dict[str, int]:
    counts = collections.Counter(p.status for p in parsed)
    return {s: counts.get(s, 0) for s in ("ok", "no_prompt_tag", "empty")}


def ngram_counts(text: str, n: int = REPEAT_NGRAM) -> tuple[int, int]:
    """(distinct, total) word n-grams of `text`, case-folded."""
    words = text.lower().split()
    grams = [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
    return len(set(grams)), len(grams)


def distinct_share(parts: tuple[str, ...]) -> float:
    """Distinct over total n-grams summed over the parts, each part counted on its own; 1.0 with none."""
    distinct, total = (sum(c) for c in zip(*(ngram_counts(p) for p in parts)))
    return distinct / total if total else 1.0
