"""Added-token matching (overlaps, prefixes, lstrip/rstrip/single_word) against the `tokenizers` library."""
import json

import pytest

from personax.tokenizers import byte_level, load_tokenizer

tokenizers = pytest.importorskip("tokenizers")
from tokenizers import AddedToken, decoders, models, pre_tokenizers  # noqa: E402

TEXTS = [
    "<a>b and <a> and <a>bc", "x<m>y  <m>  z <n>  w<n>", "  <m>", "<n>  ", "ab abc cab ab, (ab) ab_x ab",
    "<a><a>b<m><n>", "no tokens at all", "", "<a", "é<m>é",
]


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    vocab = {c: i for i, c in enumerate(byte_level.byte_to_char())}
    ref = tokenizers.Tokenizer(models.BPE(vocab=vocab, merges=[]))
    ref.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    ref.decoder = decoders.ByteLevel()
    ref.add_special_tokens([AddedToken("<a>", normalized=False), AddedToken("<a>b", normalized=False),
                            AddedToken("<m>", lstrip=True, normalized=False),
                            AddedToken("<n>", rstrip=True, normalized=False)])
    ref.add_tokens([AddedToken("ab", single_word=True, normalized=False)])
    folder = tmp_path_factory.mktemp("added")
    (folder / "tokenizer.json").write_text(ref.to_str())
    return load_tokenizer(folder), ref


@pytest.mark.parametrize("text", TEXTS)
def test_matches_tokenizers(pair, text):
    ours, ref = pair
    assert ours.encode(text) == ref.encode(text).ids
    ids = ours.encode(text)
    assert ours.decode(ids, skip_special_tokens=False) == ref.decode(ids, skip_special_tokens=False)
    assert ours.decode(ids) == ref.decode(ids)
