"""Prompts of the LLM judges (SPEC §2.3, §2.4). Each asks for one JSON object with a short
reasoning first (so the verdict follows from it) and the verdict second."""
from __future__ import annotations

from typing import Mapping

PROFILE_SYSTEM = """You check a user profile that was inferred from the user's past conversations \
against the user's true profile.
Score 1 to 5:
5 - names most of the true traits, with the right values, and claims nothing that contradicts them;
4 - names several true traits correctly, at most a minor inaccuracy;
3 - some traits right, but many missing, vague, or one clear error;
2 - few traits right, or several claims that contradict the true profile;
1 - empty, generic, or mostly wrong.
A trait counts only when the inferred profile states it specifically enough to act on.
Reply with JSON only: {"reasoning": "<one or two sentences>", "score": <integer 1-5>}"""

PAIRWISE_SYSTEM = """You compare two answers, A and B, to the same request from a user whose profile \
you are given. Decide which answer better accomplishes what the request asks, for this user.
First, the task: an answer that leaves out or gets wrong part of what was requested loses to one \
that does it, however well it is styled. Then, between answers that both do the task, prefer the \
one that suits the user's profile better (level, format, length, tone, examples).
The order of the answers means nothing; do not favour the first or the longer one. Say "tie" only \
when neither is better.
Reply with JSON only: {"reasoning": "<one or two sentences>", "winner": "A" | "B" | "tie"}"""

PERSONALIZATION_SYSTEM = """You rate how well an answer is personalized to a specific user, whose \
true profile you are given. Be strict: credit only adaptations you can point to in the answer that \
follow from a concrete trait of this profile; politeness or good general quality is not \
personalization.
Score 1 to 10:
9-10 - explicitly tailored to several concrete traits;
7-8 - clearly tailored to at least one non-trivial trait;
5-6 - shallow tailoring (surface tone or wording only);
3-4 - mostly generic;
1-2 - no tailoring at all, or it contradicts the profile.
Reply with JSON only: {"reasoning": "<one or two sentences>", "score": <integer 1-10>}"""

TASK_SYSTEM = """You rate whether an answer accomplishes the user's request. Be lenient: ignore \
style, length, format and tone, and ask only whether what was requested got done.
Score 1 to 10:
8-10 - the task is done and the result is usable;
5-7 - mostly done, with gaps;
3-4 - partly done;
1-2 - not done, or off-topic.
Reply with JSON only: {"reasoning": "<one or two sentences>", "score": <integer 1-10>}"""


def render_persona(persona: Mapping[str, str]) -> str:
    return "\n".join(f"- {dim.replace('_', ' ')}: {str(value).replace('_', ' ')}"
                     for dim, value in sorted(persona.items()))


def profile_user(profile: str, persona: Mapping[str, str]) -> str:
    return f"True profile:\n{render_persona(persona)}\n\nInferred profile:\n{profile.strip()}"


def pairwise_user(persona: Mapping[str, str], query: str, answer_a: str, answer_b: str) -> str:
    return (f"User profile:\n{render_persona(persona)}\n\nRequest:\n{query.strip()}\n\n"
            f"[Answer A]\n{answer_a.strip()}\n[End of answer A]\n\n[Answer B]\n{answer_b.strip()}\n[End of answer B]")


def personalization_user(persona: Mapping[str, str], query: str, answer: str) -> str:
    return f"User profile:\n{render_persona(persona)}\n\nRequest:\n{query.strip()}\n\nAnswer:\n{answer.strip()}"


def task_user(query: str, answer: str) -> str:
    return f"Request:\n{query.strip()}\n\nAnswer:\n{answer.strip()}"
