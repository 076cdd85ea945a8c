"""Read and write HF `tokenizer.json` + `tokenizer_config.json` (the files `transformers` loads)."""
from __future__ import annotations

import json
import pathlib

from personax.tokenizers.added_tokens import AddedToken
from personax.tokenizers.base import TokenizerError
from personax.tokenizers.bpe_tokenizer import SPECIAL_NAMES, BPETokenizer


def read_json(path: pathlib.Path, what: str) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TokenizerError(f"{path}: file not found; expected {what}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise TokenizerError(f"{path}: not valid JSON ({e}); expected {what}") from None
    if not isinstance(data, dict):
        raise TokenizerError(f"{path}: expected a JSON object ({what}), got {type(data).__name__}")
    return data


def _token_str(value) -> str | None:
    # tokenizer_config stores a special token as a string or as a serialized AddedToken dict.
    return value.get("content") if isinstance(value, dict) else value


def read_config(folder: pathlib.Path) -> tuple[dict[str, str | None], str | None, dict]:
    """Special-token strings and chat template from `tokenizer_config.json` / `chat_template.jinja`, if present."""
    path = folder / "tokenizer_config.json"
    config = read_json(path, "a tokenizer config") if path.is_file() else {}
    specials = {name: _token_str(config.get(name)) for name in SPECIAL_NAMES}
    template = config.get("chat_template")
    if isinstance(template, list):  # named templates: transformers uses "default"
        named = {t.get("name"): t.get("template") for t in template if isinstance(t, dict)}
        template = named.get("default")
    jinja_file = folder / "chat_template.jinja"
    if jinja_file.is_file():  # newer transformers saves it alongside, and it takes priority
        template = jinja_file.read_text(encoding="utf-8")
    return specials, template, config


def _merges(raw: list, path: pathlib.Path) -> list[tuple[str, str]]:
    out = []
    for i, merge in enumerate(raw):
        pair = merge.split(" ") if isinstance(merge, str) else merge
        if not isinstance(pair, list) or len(pair) != 2:
            raise TokenizerError(f"{path}: model.merges[{i}] = {merge!r}; expected 'a b' or ['a', 'b']")
        out.append((pair[0], pair[1]))
    return out


def load_hf_bpe(tokenizer_json: pathlib.Path) -> BPETokenizer:
    tokenizer_json = pathlib.Path(tokenizer_json)
    spec = read_json(tokenizer_json, "an HF tokenizer.json")
    model = spec.get("model")
    if not isinstance(model, dict) or model.get("type", "BPE") != "BPE" or "merges" not in model:
        kind = model.get("type") if isinstance(model, dict) else model
        raise TokenizerError(f"{tokenizer_json}: model type {kind!r} is not supported; expected a BPE model "
                             "with 'vocab' and 'merges'")
    if model.get("continuing_subword_prefix") or model.get("end_of_word_suffix"):
        raise TokenizerError(f"{tokenizer_json}: BPE subword prefixes/suffixes are not supported (byte-level only)")
    decoder = spec.get("decoder")
    if decoder is not None and decoder.get("type") != "ByteLevel":
        raise TokenizerError(f"{tokenizer_json}: decoder {decoder.get('type')!r} is not supported; expected ByteLevel")
    specials, template, _ = read_config(tokenizer_json.parent)
    try:
        added = [AddedToken.from_json(entry) for entry in spec.get("added_tokens") or []]
    except (KeyError, TypeError, ValueError) as e:
        raise TokenizerError(f"{tokenizer_json}: malformed added_tokens entry ({e})") from None
    return BPETokenizer(
        vocab=dict(model["vocab"]), merges=_merges(model["merges"], tokenizer_json), added_tokens=added,
        normalizer=spec.get("normalizer"), pre_tokenizer=spec.get("pre_tokenizer"),
        post_processor=spec.get("post_processor"), specials=specials, chat_template=template,
        ignore_merges=bool(model.get("ignore_merges", False)), unk_token=model.get("unk_token"),
        source=str(tokenizer_json))


# Fields `tokenizers` insists on when it reads a file back; a hand-written spec we accepted may omit them.
_SPEC_DEFAULTS = {"ByteLevel": {"add_prefix_space": False, "trim_offsets": True, "use_regex": True},
                  "Split": {"invert": False}, "Digits": {"individual_digits": False}}


def _with_defaults(spec: dict | None) -> dict | None:
    if spec is None:
        return None
    out = {**_SPEC_DEFAULTS.get(spec.get("type"), {}), **spec}
    for key in ("pretokenizers", "normalizers", "processors"):
        if key in out:
            out[key] = [_with_defaults(s) for s in out[key]]
    return out


def write_bpe_files(tokenizer: BPETokenizer, directory: pathlib.Path) -> list[pathlib.Path]:
    """`tokenizer.json` + `tokenizer_config.json` holding exactly the specs `tokenizer` runs."""
    model = tokenizer.model
    tokenizer_json = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [t.to_json() for t in tokenizer.added_tokens],
        "normalizer": _with_defaults(tokenizer.normalizer), "pre_tokenizer": _with_defaults(tokenizer.pre_tokenizer),
        "post_processor": _with_defaults(tokenizer.post_processor),
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": model.unk_token,
                  "continuing_subword_prefix": None, "end_of_word_suffix": None, "fuse_unk": False,
                  "byte_fallback": False, "ignore_merges": model.ignore_merges,
                  "vocab": model.vocab, "merges": [list(m) for m in model.merges]},
    }
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "clean_up_tokenization_spaces": False,
              **tokenizer.specials}
    if tokenizer.chat_template is not None:
        config["chat_template"] = tokenizer.chat_template
    paths = [directory / "tokenizer.json", directory / "tokenizer_config.json"]
    paths[0].write_text(json.dumps(tokenizer_json, ensure_ascii=False), encoding="utf-8")
    paths[1].write_text(json.dumps(config, ensure_ascii=False, indent=1), encoding="utf-8")
    return paths
