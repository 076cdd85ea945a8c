"""The `Tokenizer` interface every personax tokenizer implements, with the chat helpers they share."""
from __future__ import annotations

import abc
from collections.abc import Sequence

from personax.tokenizers import chat


class TokenizerError(ValueError):
    """A tokenizer file is missing, corrupt or of an unsupported kind; the message names file and expectation."""


class Tokenizer(abc.ABC):
    """Text <-> ids, special ids, and chat formatting.

    Subclasses set `chat_template` (jinja source or None) and `source` (where they were loaded from).
    """

    chat_template: str | None = None
    source: str = "<memory>"

    @abc.abstractmethod
    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        """Ids of `text`; `add_special_tokens` applies the model's post-processor (e.g. a leading BOS)."""

    @abc.abstractmethod
    def decode(self, ids: Sequence[int], skip_special_tokens: bool = True) -> str: ...

    @abc.abstractmethod
    def token_to_id(self, token: str) -> int | None: ...

    @abc.abstractmethod
    def id_to_token(self, token_id: int) -> str: ...

    @property
    @abc.abstractmethod
    def vocab_size(self) -> int: ...

    @property
    @abc.abstractmethod
    def bos_id(self) -> int | None: ...

    @property
    @abc.abstractmethod
    def eos_id(self) -> int | None: ...

    @property
    @abc.abstractmethod
    def pad_id(self) -> int: ...

    @property
    @abc.abstractmethod
    def special_tokens_map(self) -> dict[str, str]:
        """{'bos_token': ..., 'eos_token': ..., ...}: what chat templates see, as in transformers."""

    def set_chat_template(self, name_or_source: str) -> None:
        """Use a built-in template by name (`chat.BUILTIN_TEMPLATES`) or a jinja source string."""
        self.chat_template = chat.resolve_template(name_or_source)

    def _chat_template_or_raise(self) -> str:
        if self.chat_template is None:
            raise TokenizerError(
                f"{self.source}: this tokenizer has no chat template; call set_chat_template() with one of "
                f"{sorted(chat.BUILTIN_TEMPLATES)} or a jinja template")
        return self.chat_template

    def apply_chat_template(self, messages: Sequence[dict], add_generation_prompt: bool = True, **kwargs) -> str:
        """The conversation as the model's prompt text, identical to transformers' `apply_chat_template`."""
        return chat.render(self._chat_template_or_raise(), messages, add_generation_prompt,
                           {**self.special_tokens_map, **kwargs})

    def encode_chat(self, messages: Sequence[dict], add_generation_prompt: bool = True) -> list[int]:
        # The template writes BOS itself where the model wants one, so the post-processor must not add another.
        return self.encode(self.apply_chat_template(messages, add_generation_prompt), add_special_tokens=False)

    @property
    def stop_token_ids(self) -> list[int]:
        """End-of-turn tokens the chat template uses, then EOS; the sampler stops on any of them."""
        template = self.chat_template or ""
        ids = [self.token_to_id(marker) for marker in chat.END_OF_TURN_MARKERS if marker in template]
        ids.append(self.eos_id)
        return list(dict.fromkeys(i for i in ids if i is not None))

    def __len__(self) -> int:
        return self.vocab_size
