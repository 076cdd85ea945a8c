"""Judge-free multiple choice: the deployed model picks among an item's shuffled options.

Scorers (registered by name; each gives one log-score per option, the choice is the argmax):
- `letter`: the method's prompt, then the options as lettered lines and a request for the letter,
  all in one user turn; score = log p(letter) as the first token of the assistant's reply. One
  forward pass per item; small models lean on some letters, so the report shows how often each is chosen.
- `option_logprob`: the method's prompt alone as the user turn; score = the mean per-token log p of
  the option's text as the assistant's whole reply, the four options packed in one row. No letters, so
  no position bias; the options' own fluency weighs in, the same for every method, so paired
  differences stay fair.
A prompt longer than the model's context loses its oldest tokens (the options and the request stay).
"""
from __future__ import annotations

import dataclasses
import random
from typing import Callable, Sequence

import numpy as np

from personax.eval.prefeval.logprobs import LogprobScorer
from personax.registry import Registry
from personax.tokenizers import Tokenizer

LETTERS = "ABCD"
MCQ_REQUEST = ("\n\nWhich of these options would suit me best?\n{options}\n\n"
               "Answer with the letter of the best option only.")


def shuffled_order(state_id: str, n: int, seed: int) -> list[int]:
    """The option indices in the order they are shown; the same for every method of an item."""
    order = list(range(n))
    random.Random(f"{seed}:{state_id}").shuffle(order)
    return order


def mcq_text(prompt: str, options: Sequence[str]) -> str:
    lines = "\n".join(f"{letter}. {option}" for letter, option in zip(LETTERS, options))
    return prompt + MCQ_REQUEST.format(options=lines)


@dataclasses.dataclass(frozen=True)
class Question:
    prompt: str  # the method's prompt
    options: tuple[str, ...]  # in the order shown


@dataclasses.dataclass
class Deployed:
    """The deployed model as MCQ needs it: a chat tokenizer and a log-prob scorer."""
    tokenizer: Tokenizer
    scorer: LogprobScorer

    def chat_ids(self, user: str, reserve: int = 0) -> list[int]:
        """The templated user turn, cut from the left to leave `reserve` tokens of the context free."""
        ids = self.tokenizer.encode_chat([{"role": "user", "content": user}])
        return ids[-(self.scorer.context - reserve):]


ScorerFn = Callable[[Deployed, Sequence[Question]], np.ndarray]  # -> [N, n_options]
SCORERS: Registry[ScorerFn] = Registry("prefeval MCQ scorer")


def letter_ids(deployed: Deployed) -> list[int]:
    """Each letter's token when it starts the reply: it must be one token that leaves the chat
    template's generation prompt as it was."""
    tok = deployed.tokenizer
    head = tok.apply_chat_template([{"role": "user", "content": "?"}], add_generation_prompt=True)
    context = tok.encode(head, add_special_tokens=False)
    ids = []
    for letter in LETTERS:
        full = tok.encode(head + letter, add_special_tokens=False)
        if len(full) != len(context) + 1 or full[:-1] != context:
            raise ValueError(f"the letter scorer needs {letter!r} to be one token after the chat template's "
                             f"generation prompt; this tokenizer writes it differently (use option_logprob)")
        ids.append(full[-1])
    return ids


@SCORERS.register("letter")
def letter(deployed: Deployed, questions: Sequence[Question]) -> np.ndarray:
    rows = [deployed.chat_ids(mcq_text(q.prompt, q.options), reserve=1) for q in questions]
    return deployed.scorer.next_token(rows, letter_ids(deployed))


@SCORERS.register("option_logprob")
def option_logprob(deployed: Deployed, questions: Sequence[Question]) -> np.ndarray:
    options = [[deployed.tokenizer.encode(o, add_special_tokens=False) for o in q.options] for q in questions]
    prompts = [deployed.chat_ids(q.prompt, reserve=sum(map(len, opts))) for q, opts in zip(questions, options)]
    logps = deployed.scorer.continuations(prompts, options)
    return np.asarray([[float(lp.mean()) for lp in row] for row in logps], np.float32)


def score_questions(deployed: Deployed, questions: Sequence[Question], scorer: str) -> list[dict]:
    """One {"scores", "choice"} per question; `choice` indexes the options as shown."""
    if not questions:
        return []
    scores_NxO = SCORERS.get(scorer)(deployed, questions)
    return [{"scores": [round(float(s), 5) for s in row], "choice": int(np.argmax(row))} for row in scores_NxO]
