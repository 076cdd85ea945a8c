"""The persona bank (SPEC §1.1): 33 categorical dimensions, shipped as `persona_bank.json`."""
from __future__ import annotations

import dataclasses
import json
import pathlib
import re

DEFAULT_BANK_PATH = pathlib.Path(__file__).with_name("persona_bank.json")
CATEGORIES = ("basic_info", "behavioral", "constraint")
OTHERS = "others"
_SNAKE = re.compile(r"^[a-z0-9]+(_[a-z0-9]+)*$")


class BankError(ValueError):
    """The bank file is malformed; the message names the dimension and field."""


@dataclasses.dataclass(frozen=True)
class Dimension:
    name: str
    category: str
    is_constraint: bool
    description: str
    values: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class PersonaBank:
    dimensions: dict[str, Dimension]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.dimensions)

    @property
    def constraint_names(self) -> tuple[str, ...]:
        return tuple(n for n, d in self.dimensions.items() if d.is_constraint)


def is_snake_value(text: str, max_words: int = 3) -> bool:
    return bool(_SNAKE.match(text)) and len(text.split("_")) <= max_words


def _dimension(name: str, raw: object, where: str) -> Dimension:
    if not isinstance(raw, dict):
        raise BankError(f"{where}: dimension {name!r} must be an object, got {type(raw).__name__}")
    for field, kind in (("category", str), ("is_constraint", bool), ("description", str), ("values", list)):
        if not isinstance(raw.get(field), kind):
            raise BankError(f"{where}: dimension {name!r} field {field!r} must be {kind.__name__}, got {raw.get(field)!r}")
    if raw["category"] not in CATEGORIES:
        raise BankError(f"{where}: dimension {name!r} category {raw['category']!r} not in {CATEGORIES}")
    values = raw["values"]
    # Values must stay strings: the reference's YAML silently turned age band 18_24 into 1824.
    bad = [v for v in values if not isinstance(v, str) or not v]
    if bad or not values or len(set(values)) != len(values):
        raise BankError(f"{where}: dimension {name!r} values must be distinct non-empty strings, got {values!r}")
    return Dimension(name, raw["category"], raw["is_constraint"], raw["description"], tuple(values))


def load_bank(path: str | pathlib.Path = DEFAULT_BANK_PATH) -> PersonaBank:
    path = pathlib.Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise BankError(f"{path}: cannot read persona bank: {e}") from e
    dims = raw.get("dimensions") if isinstance(raw, dict) else None
    if not isinstance(dims, dict) or not dims:
        raise BankError(f"{path}: expected an object with a non-empty 'dimensions' mapping")
    return PersonaBank({n: _dimension(n, d, str(path)) for n, d in dims.items()})
