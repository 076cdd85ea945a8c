"""Small text helpers shared by the sim roles."""
from __future__ import annotations

import re

STOPWORDS = frozenset("""a an the and or but if of to in on for with at by from about into over as is are be
was were it its this that these those my our your me i we you can could would should will do does how what
why which who when where please some any me just so than then there here also very much more most""".split())
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'\-]*")


def sentence(fragment: str) -> str:
    """A cue fragment as a sentence: capitalised, ending in punctuation."""
    fragment = fragment.strip()
    if not fragment:
        return fragment
    fragment = fragment[0].upper() + fragment[1:]
    return fragment if fragment[-1] in ".?!)" else fragment + "."


def content_phrases(text: str, limit: int = 4) -> list[str]:
    """Runs of consecutive non-stopwords (at most 4 words): a crude slot extractor."""
    runs, current = [], []
    for token in _WORD.findall(text):
        if token.lower() in STOPWORDS:
            if current:
                runs.append(" ".join(current))
            current = []
        else:
            current.append(token)
            if len(current) == 4:
                runs.append(" ".join(current))
                current = []
    if current:
        runs.append(" ".join(current))
    # The first run is usually the request verb ("Write", "Explain"): that is the intent, not a slot.
    return [r for r in runs[1:] if len(r) > 3][:limit]


def topic(text: str, max_words: int = 8) -> str:
    return " ".join(_WORD.findall(text)[:max_words]) or "your question"
