"""The PPOpt state text: the exact prompt the authors' policy reads (SPEC §1.7).

Byte-identical to the `input` of the authors' released SFT items and RL states. Each history
session shows the user's messages as sent and a placeholder for every assistant reply.
"""
from __future__ import annotations

import re
from typing import Sequence

PLACEHOLDER = "[ASSISTANT_RESPONSE]"

_HEADER = (
    "Your task is to analyze the user's historical conversations, infer their preferences and "
    "communication style, and then optimize the user's current query.\n\n"
    "## Historical Conversations\n\n"
    "Below are the user's past conversation logs. Each conversation includes the user's messages "
    "and the assistant's replies (assistant replies are replaced with the placeholder "
    f"{PLACEHOLDER}).\n\n")
_SESSION = "### Conversation {index}\n\n{text}\n\n---\n\n"
_QUERY = "## Current Query\n\nUser: "
_INSTRUCTIONS = (
    "\n\n## Your Task\n\n"
    "Based on the historical conversations above, analyze the user's:\n\n"
    "- Communication style and preferences\n"
    "- Typical language and phrasing patterns\n"
    "- Preferred structure and formatting of responses\n"
    "- Desired level of depth, rigor, and abstraction\n\n"
    "Then rewrite the \"Current Query\" into a more precise prompt that better matches the user's "
    "inferred style and expectations.\n\n"
    "Output format (must follow exactly):\n"
    "<REASONING>\n[your analysis of the user's style]\n</REASONING>\n"
    "<PROMPT>\n[the optimized query]\n</PROMPT>")


def render_session(turns: Sequence[tuple[str, str]]) -> str:
    """One past conversation, (role, content) pairs alternating user first, as a history text.

    A user message without a reply (the conversation stopped there) has no placeholder line.
    """
    blocks: list[str] = []
    for i, (role, content) in enumerate(turns):
        if role != ("user", "assistant")[i % 2]:
            raise ValueError(f"render_session: turn {i} is {role!r}; turns alternate, user first")
        if role == "user":
            blocks.append(f"User: {content}")
        else:
            blocks[-1] += f"\n{PLACEHOLDER}"
    return "\n\n".join(blocks)


def build_state(history_texts: Sequence[str], query: str) -> str:
    if not history_texts:
        raise ValueError("build_state: at least one history session is required")
    sessions = "".join(_SESSION.format(index=i, text=t) for i, t in enumerate(history_texts, 1))
    return f"{_HEADER}{sessions}{_QUERY}{query}{_INSTRUCTIONS}"


_SESSION_RE = re.compile(r"### Conversation (\d+)\n\n(.*?)\n\n---\n\n", re.S)


def parse_state(text: str) -> tuple[list[str], str] | None:
    """(history_texts, query) of a state text, or None when it is not in the authors' template.

    A parse is accepted only if rebuilding gives back the same bytes.
    """
    if not (text.startswith(_HEADER) and text.endswith(_INSTRUCTIONS)):
        return None
    body = text[len(_HEADER):len(text) - len(_INSTRUCTIONS)]
    cut = body.rfind(_QUERY)
    if cut < 0:
        return None
    sessions, query = body[:cut], body[cut + len(_QUERY):]
    history = [m.group(2) for m in _SESSION_RE.finditer(sessions)]
    if not history or build_state(history, query) != text:
        return None
    return history, query
