"""Each pre-tokenizer and normalizer spec against the `tokenizers` library's own implementation."""
import json

import pytest

from personax.tokenizers.pretokenize import SPLIT_BEHAVIORS, build_normalizer, build_pre_tokenizer

tokenizers = pytest.importorskip("tokenizers")
from tokenizers import normalizers, pre_tokenizers  # noqa: E402

TEXTS = ["Hello,  world!! 123 abc4567", "  lead and trail  ", "a--b---c", "--", "x", "數字 ١٢٣ and ½", "--a--b", "", "1 2  3"]

SNAKE = {"Removed": "removed", "Isolated": "isolated", "MergedWithPrevious": "merged_with_previous",
         "MergedWithNext": "merged_with_next", "Contiguous": "contiguous"}


def _theirs(pre, text: str) -> list[str]:
    return [piece for piece, _ in pre.pre_tokenize_str(text)]


def _ours(spec: dict, text: str) -> list[str]:
    return build_pre_tokenizer(spec)([text])


@pytest.mark.parametrize("behavior", SPLIT_BEHAVIORS)
@pytest.mark.parametrize("invert", [False, True])
@pytest.mark.parametrize("pattern", [r"-+|\s", r"\p{N}"])
def test_split_behaviors(behavior, invert, pattern):
    theirs = pre_tokenizers.Split(tokenizers.Regex(pattern), behavior=SNAKE[behavior], invert=invert)
    spec = json.loads(theirs.__getstate__())
    assert spec["type"] == "Split"
    for text in TEXTS:
        assert _ours(spec, text) == _theirs(theirs, text), (text, behavior, invert)


def test_split_on_a_string_pattern():
    theirs = pre_tokenizers.Split("--", behavior="isolated")
    spec = json.loads(theirs.__getstate__())
    for text in TEXTS:
        assert _ours(spec, text) == _theirs(theirs, text)


@pytest.mark.parametrize("theirs", [
    pre_tokenizers.Digits(individual_digits=True),
    pre_tokenizers.Digits(individual_digits=False),
    pre_tokenizers.ByteLevel(add_prefix_space=True, use_regex=True),
    pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                             pre_tokenizers.ByteLevel(add_prefix_space=True)]),
], ids=["digits1", "digits", "bytelevel_prefix", "bytelevel_noregex", "sequence"])
def test_digits_bytelevel_sequence(theirs):
    spec = json.loads(theirs.__getstate__())
    for text in TEXTS:
        assert _ours(spec, text) == _theirs(theirs, text)


@pytest.mark.parametrize("theirs", [normalizers.NFC(), normalizers.NFKC(), normalizers.NFD(), normalizers.NFKD(),
                                    normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])],
                         ids=["nfc", "nfkc", "nfd", "nfkd", "nfkc_lower"])
def test_normalizers(theirs):
    spec = json.loads(theirs.__getstate__())
    for text in TEXTS + ["e\u0301 ﬁ Ⅻ ＡＢＣ ÉCOLE"]:
        assert build_normalizer(spec)(text) == theirs.normalize_str(text)
