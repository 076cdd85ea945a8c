"""Byte-level BPE tokenizer: added tokens, normalizer, pre-tokenizer, BPE merges, post-processor."""
from __future__ import annotations

from collections.abc import Sequence

from personax.tokenizers import byte_level, chat
from personax.tokenizers.added_tokens import AddedToken, AddedTokenSplitter
from personax.tokenizers.base import Tokenizer, TokenizerError
from personax.tokenizers.bpe import BPEModel
from personax.tokenizers.postprocess import build_post_processor
from personax.tokenizers.pretokenize import SpecError, build_normalizer, build_pre_tokenizer, has_byte_level

SPECIAL_NAMES = ("bos_token", "eos_token", "unk_token", "pad_token")


class BPETokenizer(Tokenizer):
    """Holds its parts as `tokenizer.json` specs, so that it exports exactly what it runs."""

    def __init__(self, *, vocab: dict[str, int], merges: Sequence[tuple[str, str]], added_tokens: list[AddedToken],
                 normalizer: dict | None, pre_tokenizer: dict, post_processor: dict | None,
                 specials: dict[str, str | None], chat_template: str | None, ignore_merges: bool = False,
                 unk_token: str | None = None, source: str = "<memory>"):
        self.source = source
        if not has_byte_level(pre_tokenizer):
            raise TokenizerError(f"{source}: pre_tokenizer {pre_tokenizer!r} has no ByteLevel step; "
                                 "only byte-level BPE is supported")
        try:
            self._normalize = build_normalizer(normalizer)
            self._pre_tokenize = build_pre_tokenizer(pre_tokenizer)
            self._post_process = build_post_processor(post_processor)
        except (SpecError, KeyError, TypeError) as e:
            raise TokenizerError(f"{source}: {e}") from e
        self.normalizer, self.pre_tokenizer, self.post_processor = normalizer, pre_tokenizer, post_processor
        self.model = BPEModel(vocab, merges, ignore_merges=ignore_merges, unk_token=unk_token)
        self.added_tokens = sorted(added_tokens, key=lambda t: t.id)
        self._splitter = AddedTokenSplitter(self.added_tokens)
        self._added_by_id = {t.id: t for t in self.added_tokens}
        self._id_to_token = {i: t for t, i in vocab.items()} | {t.id: t.content for t in self.added_tokens}
        self._vocab_size = max(self._id_to_token) + 1
        self.specials = {k: v for k, v in specials.items() if v is not None}
        for name, token in self.specials.items():
            if self.token_to_id(token) is None:
                raise TokenizerError(f"{source}: {name} {token!r} is not in the vocabulary")
        self.chat_template = chat_template or chat.template_for_vocabulary(lambda t: t in self._splitter.by_content)

    # ---- ids ----
    def token_to_id(self, token: str) -> int | None:
        added = self._splitter.by_content.get(token)
        return added.id if added is not None else self.model.vocab.get(token)

    def id_to_token(self, token_id: int) -> str:
        if token_id not in self._id_to_token:
            raise IndexError(f"token id {token_id} is not in the vocabulary of {self.source} "
                             f"(size {self.vocab_size})")
        return self._id_to_token[token_id]

    @property
    def vocab_size(self) -> int:
        return self._vocab_size

    def _special_id(self, name: str) -> int | None:
        token = self.specials.get(name)
        return None if token is None else self.token_to_id(token)

    @property
    def bos_id(self) -> int | None:
        return self._special_id("bos_token")

    @property
    def eos_id(self) -> int | None:
        return self._special_id("eos_token")

    @property
    def pad_id(self) -> int:
        # No pad token: reuse EOS (masked out anyway), as most causal-LM recipes do.
        for name in ("pad_token", "eos_token", "unk_token"):
            if (token_id := self._special_id(name)) is not None:
                return token_id
        return 0

    @property
    def special_tokens_map(self) -> dict[str, str]:
        return dict(self.specials)

    # ---- text ----
    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        if not isinstance(text, str):
            raise TypeError(f"encode expects str, got {type(text).__name__}")
        ids: list[int] = []
        for piece in self._splitter.split(text):
            if isinstance(piece, AddedToken):
                ids.append(piece.id)
                continue
            for word in self._pre_tokenize([self._normalize(piece)]):
                ids.extend(self.model.tokenize(word))
        return self._post_process(ids) if add_special_tokens else ids

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = True) -> str:
        parts: list[str] = []
        run: list[bytes] = []  # byte-level tokens decode together: one character may span several tokens
        for token_id in ids:
            token_id = int(token_id)
            added = self._added_by_id.get(token_id)
            if added is None:
                run.append(byte_level.decode_chars(self.id_to_token(token_id)))
                continue
            if added.special and skip_special_tokens:
                continue
            parts.append(b"".join(run).decode("utf-8", errors="replace"))
            run = []
            parts.append(added.content)
        parts.append(b"".join(run).decode("utf-8", errors="replace"))
        return "".join(parts)
