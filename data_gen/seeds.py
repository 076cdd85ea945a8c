"""Seed queries (SPEC §1.3): built-in set, JSONL files, optional TFDS; turn/length targets."""
from __future__ import annotations

import dataclasses
import json
import pathlib
import random

BUILTIN_PATH = pathlib.Path(__file__).with_name("seed_queries.json")
# Word ranges of the persona's own messages, keyed by `query_length_pref`.
QUERY_WORDS = {"very_short": (10, 20), "short": (20, 40), "medium": (40, 80), "long": (80, 150)}


class SeedError(ValueError):
    """A seed source is malformed; the message names the file, line and field."""


@dataclasses.dataclass(frozen=True)
class SeedQuery:
    id: str
    source: str
    text: str
    category: str = "instruction"
    domain: str = ""
    scenario: str = ""
    # Key phrases of the request, verbatim in `text`: what a complete answer must cover.
    slots: tuple[str, ...] = ()


def builtin_sets() -> list[str]:
    """Names of the seed sets shipped beside this module: "" (seed_queries.json) and each NAME of a
    seed_queries_NAME.json."""
    return sorted("" if p.stem == BUILTIN_PATH.stem else p.stem[len(BUILTIN_PATH.stem) + 1:]
                  for p in BUILTIN_PATH.parent.glob(f"{BUILTIN_PATH.stem}*.json"))


def load_builtin(name: str = "") -> list[SeedQuery]:
    """A shipped seed set: templates x fills, each fill the query's slots. `name` "" is the main set
    (ids builtin-TTT-F); "extra" is seed_queries_extra.json (ids builtin_extra-TTT-F), and so on."""
    if name not in builtin_sets():
        raise SeedError(f"no built-in seed set {name!r}; shipped: {', '.join(map(repr, builtin_sets()))}")
    path = BUILTIN_PATH.with_name(f"{BUILTIN_PATH.stem}_{name}.json") if name else BUILTIN_PATH
    source = f"builtin_{name}" if name else "builtin"
    raw = json.loads(path.read_text(encoding="utf-8"))
    seeds = []
    for ti, tpl in enumerate(raw["templates"]):
        for fi, fill in enumerate(tpl["fills"]):
            text = tpl["template"].format(*fill)
            seeds.append(SeedQuery(f"{source}-{ti:03d}-{fi}", source, text, tpl["category"],
                                   tpl["domain"], tpl["scenario"], tuple(fill)))
    return seeds


def load_jsonl(path: str | pathlib.Path, text_field: str = "text") -> list[SeedQuery]:
    """One object per line with a string `text_field`; optional id, category, domain, scenario, slots."""
    path = pathlib.Path(path)
    seeds = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise SeedError(f"{path}: cannot read seed file: {e}") from e
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise SeedError(f"{path}:{n}: not valid JSON ({e.msg})") from e
        text = obj.get(text_field) if isinstance(obj, dict) else None
        if not isinstance(text, str) or not text.strip():
            raise SeedError(f"{path}:{n}: field {text_field!r} must be a non-empty string")
        slots = obj.get("slots", [])
        if not isinstance(slots, list) or not all(isinstance(s, str) for s in slots):
            raise SeedError(f"{path}:{n}: field 'slots' must be a list of strings")
        seeds.append(SeedQuery(str(obj.get("id", f"{path.stem}-{n}")), f"jsonl:{path.name}", text.strip(),
                               str(obj.get("category", "instruction")), str(obj.get("domain", "")),
                               str(obj.get("scenario", "")), tuple(slots)))
    return seeds


def load_tfds(name: str, split: str, text_field: str, limit: int, data_dir: str | None = None) -> list[SeedQuery]:
    """Reads prepared TFDS data through `tfds.data_source` (no download is attempted)."""
    import tensorflow_datasets as tfds  # heavy; only when a TFDS source is configured

    try:
        source = tfds.data_source(name, split=split, data_dir=data_dir, download=False)
    except Exception as e:  # tfds raises several kinds for "not prepared"
        raise SeedError(f"TFDS dataset {name!r} split {split!r} is not available locally: {e}") from e
    seeds = []
    for i in range(min(limit, len(source))):
        text = source[i].get(text_field)
        text = text.decode("utf-8") if isinstance(text, bytes) else text
        if not isinstance(text, str) or not text.strip():
            raise SeedError(f"TFDS {name}/{split} record {i}: field {text_field!r} must be non-empty text")
        seeds.append(SeedQuery(f"{name}-{split}-{i}", f"tfds:{name}", text.strip()))
    return seeds


def load_sources(sources: list[dict]) -> list[SeedQuery]:
    seeds: list[SeedQuery] = []
    for src in sources:
        kind = src.get("kind")
        if kind == "builtin":
            seeds += load_builtin(src.get("name", ""))
        elif kind == "jsonl":
            seeds += load_jsonl(src["path"], src.get("text_field", "text"))
        elif kind == "tfds":
            seeds += load_tfds(src["name"], src.get("split", "train"), src.get("text_field", "text"),
                               int(src.get("limit", 1000)), src.get("data_dir"))
        else:
            raise SeedError(f"seed source {src!r}: 'kind' must be builtin, jsonl or tfds")
    ids = [s.id for s in seeds]
    if len(set(ids)) != len(ids):
        raise SeedError("seed ids collide across sources; give JSONL seeds explicit distinct ids")
    return seeds


def target_turns(rng: random.Random, mean: float = 3.0, std: float = 0.5, lo: int = 2, hi: int = 5) -> int:
    return max(lo, min(hi, round(rng.gauss(mean, std))))


def target_words(rng: random.Random, query_length_pref: str) -> int:
    lo, hi = QUERY_WORDS.get(query_length_pref, QUERY_WORDS["short"])
    return rng.randint(lo, hi)
