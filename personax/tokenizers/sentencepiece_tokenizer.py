"""sentencepiece models: load a `.model` file, or train one in-process from texts (deterministically)."""
from __future__ import annotations

import io
import pathlib
from collections.abc import Iterable, Sequence

import regex
import sentencepiece as spm
from sentencepiece import sentencepiece_model_pb2

from personax.tokenizers import chat
from personax.tokenizers.base import Tokenizer, TokenizerError

_USER_DEFINED = sentencepiece_model_pb2.ModelProto.SentencePiece.USER_DEFINED


class SentencePieceTokenizer(Tokenizer):
    """Control pieces (<s>, </s>, <pad>, <unk>) and user-defined pieces (chat markers) count as special."""

    def __init__(self, model_proto: bytes, *, source: str, chat_template: str | None = None,
                 add_bos: bool = True, add_eos: bool = False):
        self.source = source
        self.sp = spm.SentencePieceProcessor()
        try:
            self.sp.LoadFromSerializedProto(model_proto)
        except (RuntimeError, OSError) as e:
            raise TokenizerError(f"{source}: not a valid sentencepiece model ({e})") from None
        self.model_proto = model_proto
        self.proto = sentencepiece_model_pb2.ModelProto.FromString(model_proto)
        user_defined = {i for i, p in enumerate(self.proto.pieces) if p.type == _USER_DEFINED}
        self.user_defined_pieces = [self.sp.id_to_piece(i) for i in sorted(user_defined)]
        self._special_ids = user_defined | {i for i in range(self.sp.get_piece_size())
                                            if self.sp.is_control(i) or self.sp.is_unknown(i)}
        # Like HF's sentencepiece tokenizers, the text of a control piece (e.g. a template's "<s>") is that piece;
        # sentencepiece itself would spell it out character by character.
        control = sorted((self.sp.id_to_piece(i) for i in self._special_ids if i not in user_defined),
                         key=len, reverse=True)
        self._control_pattern = regex.compile("(" + "|".join(map(regex.escape, control)) + ")") if control else None
        self.add_bos, self.add_eos = add_bos, add_eos
        self.chat_template = chat_template or chat.template_for_vocabulary(
            lambda t: self.token_to_id(t) in user_defined)

    @classmethod
    def from_file(cls, path: str | pathlib.Path, **kwargs) -> "SentencePieceTokenizer":
        path = pathlib.Path(path)
        if not path.is_file():
            raise TokenizerError(f"{path}: file not found; expected a sentencepiece .model file")
        return cls(path.read_bytes(), source=str(path), **kwargs)

    def _optional(self, token_id: int) -> int | None:
        return token_id if token_id >= 0 else None

    @property
    def bos_id(self) -> int | None:
        return self._optional(self.sp.bos_id())

    @property
    def eos_id(self) -> int | None:
        return self._optional(self.sp.eos_id())

    @property
    def pad_id(self) -> int:
        for token_id in (self.sp.pad_id(), self.sp.eos_id(), self.sp.unk_id()):
            if token_id >= 0:
                return token_id
        return 0

    @property
    def vocab_size(self) -> int:
        return self.sp.get_piece_size()

    @property
    def special_tokens_map(self) -> dict[str, str]:
        ids = {"bos_token": self.sp.bos_id(), "eos_token": self.sp.eos_id(), "unk_token": self.sp.unk_id(),
               "pad_token": self.sp.pad_id()}
        return {name: self.sp.id_to_piece(i) for name, i in ids.items() if i >= 0}

    def token_to_id(self, token: str) -> int | None:
        token_id = self.sp.piece_to_id(token)
        # sentencepiece answers unk for an unknown piece; only the unk piece itself maps to it.
        return None if token_id == self.sp.unk_id() and token != self.sp.id_to_piece(token_id) else token_id

    def id_to_token(self, token_id: int) -> str:
        if not 0 <= token_id < self.vocab_size:
            raise IndexError(f"token id {token_id} is not in the vocabulary of {self.source} (size {self.vocab_size})")
        return self.sp.id_to_piece(token_id)

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        if not isinstance(text, str):
            raise TypeError(f"encode expects str, got {type(text).__name__}")
        pieces = self._control_pattern.split(text) if self._control_pattern else [text]
        ids: list[int] = []
        for i, piece in enumerate(pieces):  # odd positions are the captured control pieces
            if i % 2:
                ids.append(self.sp.piece_to_id(piece))
            elif piece:
                ids.extend(self.sp.encode(piece))
        if add_special_tokens:
            ids = ([self.bos_id] if self.add_bos and self.bos_id is not None else []) + ids + \
                  ([self.eos_id] if self.add_eos and self.eos_id is not None else [])
        return ids

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = True) -> str:
        parts, run = [], []
        for token_id in map(int, ids):
            self.id_to_token(token_id)  # range check with a clear error
            if token_id in self._special_ids:
                if skip_special_tokens:
                    continue
                parts.append(self.sp.decode(run))
                parts.append(self.sp.id_to_piece(token_id))
                run = []
            else:
                run.append(token_id)
        parts.append(self.sp.decode(run))
        return "".join(parts)


def train_sentencepiece(texts: Iterable[str], model_path: str | pathlib.Path, *, vocab_size: int,
                        model_type: str = "bpe", chat_template: str = "chatml",
                        byte_fallback: bool = True, **trainer_options) -> SentencePieceTokenizer:
    """Train a model on `texts`, write it to `model_path`, and return it loaded.

    The chat template's markers become user-defined (single, never split) pieces; unk=0, bos=1, eos=2, pad=3.
    Text is kept as is (identity normalization, no dummy prefix, whitespace kept) so decode(encode(t)) == t,
    and byte fallback covers characters the training texts never showed. One thread: same texts, same model.
    """
    if model_type not in ("bpe", "unigram"):
        raise ValueError(f"model_type must be 'bpe' or 'unigram', got {model_type!r}")
    if chat_template not in chat.BUILTIN_TEMPLATES:
        raise ValueError(f"chat_template must be one of {sorted(chat.BUILTIN_TEMPLATES)}, got {chat_template!r}")
    options = dict(
        model_type=model_type, vocab_size=vocab_size, character_coverage=1.0, byte_fallback=byte_fallback,
        user_defined_symbols=list(chat.BUILTIN_TEMPLATES[chat_template].special_tokens),
        unk_id=0, bos_id=1, eos_id=2, pad_id=3, normalization_rule_name="identity", add_dummy_prefix=False,
        remove_extra_whitespaces=False, split_digits=True, allow_whitespace_only_pieces=True,
        num_threads=1, shuffle_input_sentence=False, input_sentence_size=0, minloglevel=2)
    if model_type == "unigram":
        options["hard_vocab_limit"] = False
    options.update(trainer_options)
    buffer = io.BytesIO()
    sentences = (t for t in texts if t)
    try:
        spm.SentencePieceTrainer.train(sentence_iterator=sentences, model_writer=buffer, **options)
    except RuntimeError as e:
        raise ValueError(f"sentencepiece training failed for {model_path} ({e}); a smaller vocab_size or more "
                         "text usually fixes it") from None
    model_path = pathlib.Path(model_path)
    model_path.parent.mkdir(parents=True, exist_ok=True)
    model_path.write_bytes(buffer.getvalue())
    return SentencePieceTokenizer(buffer.getvalue(), source=str(model_path),
                                  chat_template=chat.resolve_template(chat_template))
