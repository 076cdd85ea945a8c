"""PPOpt examples -> token ids with a chat template, completion-only loss mask, left truncation.

The tokenizer is duck-typed: `apply_chat_template(messages, add_generation_prompt) -> str` and
`encode(text, add_special_tokens) -> list[int]` (every `personax.tokenizers` tokenizer qualifies).
The state text is the user message, with no system prompt (as the authors trained).
"""
from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np

from personax.data.examples import PPOptExample


class ChatTokenizer(Protocol):
    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]: ...

    def apply_chat_template(self, messages: Sequence[dict], add_generation_prompt: bool = True
                            ) -> str: ...


def prompt_ids(tokenizer: ChatTokenizer, example: PPOptExample) -> list[int]:
    text = tokenizer.apply_chat_template([{"role": "user", "content": example.input}],
                                         add_generation_prompt=True)
    # The template writes BOS where the model wants one.
    return list(tokenizer.encode(text, add_special_tokens=False))


def prompt_and_completion_ids(tokenizer: ChatTokenizer, example: PPOptExample
                              ) -> tuple[list[int], list[int]]:
    """The completion is what the template adds after the generation prompt (the target and the
    end-of-turn marker), tokenized on its own so the boundary is exact."""
    if example.output is None:
        raise ValueError(f"example {example.state_id}: no SFT target (output); label it with a "
                         f"teacher first, or use the prompt-only mode")
    user = {"role": "user", "content": example.input}
    prompt = tokenizer.apply_chat_template([user], add_generation_prompt=True)
    full = tokenizer.apply_chat_template([user, {"role": "assistant", "content": example.output}],
                                         add_generation_prompt=False)
    if not full.startswith(prompt):
        raise ValueError("chat template: the rendered conversation does not start with the "
                         "rendered generation prompt, so the completion cannot be isolated")
    return (list(tokenizer.encode(prompt, add_special_tokens=False)),
            list(tokenizer.encode(full[len(prompt):], add_special_tokens=False)))


def truncate_left(prompt: list[int], completion: list[int], max_len: int
                  ) -> tuple[list[int], list[int]]:
    """Fit in `max_len` by dropping the oldest prompt tokens; the completion is kept whole unless
    it alone does not fit, then it is cut from the right and one prompt token stays."""
    if max_len < 2:
        raise ValueError(f"max_len must be at least 2, got {max_len}")
    completion = completion[:max_len - 1]
    keep = max_len - len(completion)
    return prompt[len(prompt) - min(keep, len(prompt)):], completion


def sft_features(tokenizer: ChatTokenizer, example: PPOptExample, max_len: int
                 ) -> dict[str, np.ndarray]:
    """Variable-length `tokens` and `loss_mask` (1 on completion tokens: the ones to predict)."""
    prompt, completion = truncate_left(*prompt_and_completion_ids(tokenizer, example), max_len)
    return {"tokens": np.asarray(prompt + completion, np.int32),
            "loss_mask": np.asarray([0] * len(prompt) + [1] * len(completion), np.int32)}


def prompt_features(tokenizer: ChatTokenizer, example: PPOptExample, max_len: int, pad_id: int
                    ) -> dict[str, np.ndarray]:
    """A left-truncated, left-padded prompt for sampling (GRPO rollouts, evaluation)."""
    ids = prompt_ids(tokenizer, example)[-max_len:]
    pad = max_len - len(ids)
    return {"prompt_tokens": np.asarray([pad_id] * pad + ids, np.int32),
            "prompt_mask": np.asarray([0] * pad + [1] * len(ids), np.int32)}


def pad_right(features: dict[str, np.ndarray], max_len: int, pad_id: int) -> dict[str, np.ndarray]:
    """Fixed shape [max_len] with the same fields packing produces (one segment per row)."""
    n = len(features["tokens"])
    real = np.arange(max_len) < n
    return {"tokens": np.where(real, np.pad(features["tokens"], (0, max_len - n)), pad_id
                               ).astype(np.int32),
            "loss_mask": np.pad(features["loss_mask"], (0, max_len - n)).astype(np.int32),
            "segment_ids": real.astype(np.int32),
            "positions": np.where(real, np.arange(max_len), 0).astype(np.int32)}
