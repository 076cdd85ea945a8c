"""A state's history sessions as the user's own messages, and lexical retrieval over them."""
from __future__ import annotations

import re
from typing import Sequence

from personax.data.state import PLACEHOLDER
from personax.llm.sim.text import STOPWORDS

_TURN_BREAK = re.compile(r"\n\n(?=User: )")
_WORD = re.compile(r"[a-z0-9][a-z0-9'\-]*")


def user_turns(session: str) -> list[str]:
    """The user messages of one history text ("User: …" blocks, reply placeholders dropped)."""
    turns = []
    for block in _TURN_BREAK.split(session.strip()):
        block = block.removeprefix("User: ").strip()
        block = block.removesuffix(PLACEHOLDER).strip()
        if block:
            turns.append(block)
    return turns


def render_history(sessions: Sequence[str]) -> str:
    """The past conversations as the deployed LLM sees them: the user's messages, session by session."""
    parts = []
    for i, session in enumerate(sessions, 1):
        messages = "\n".join(f"- {t}" for t in user_turns(session))
        parts.append(f"Conversation {i}:\n{messages}")
    return "\n\n".join(parts)


def content_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in STOPWORDS}


def top_k_turns(sessions: Sequence[str], query: str, k: int) -> list[str]:
    """The k past user turns sharing the most distinct content words with the query (ties: the more
    recent turn), returned in conversation order so the deployed LLM reads them as they happened."""
    if k < 1:
        raise ValueError(f"eval.retrieval_k must be >= 1, got {k}")
    turns = [t for s in sessions for t in user_turns(s)]
    wanted = content_words(query)
    ranked = sorted(range(len(turns)), key=lambda i: (-len(wanted & content_words(turns[i])), -i))
    return [turns[i] for i in sorted(ranked[:k])]
