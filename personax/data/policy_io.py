"""The policy's output format: `<REASONING>profile</REASONING><PROMPT>rewrite</PROMPT>` (SPEC §2.1)."""
from __future__ import annotations

import collections
import dataclasses
import re
from typing import Iterable, Literal

_REASONING = re.compile(r"<reasoning>(.*?)(?:</reasoning>|$)", re.S | re.I)
_PROMPT = re.compile(r"<prompt>(.*?)(?:</prompt>|$)", re.S | re.I)

Status = Literal["ok", "no_prompt_tag", "empty"]


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


def count_statuses(parsed: Iterable[ParsedOutput]) -> dict[str, int]:
    counts = collections.Counter(p.status for p in parsed)
    return {s: counts.get(s, 0) for s in ("ok", "no_prompt_tag", "empty")}
