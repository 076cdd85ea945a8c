"""Checked access to decoded JSON, with errors that name the file, line and field."""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping


class RecordError(ValueError):
    """A malformed record: `where` is 'file:line' (or 'file[index]'), `field` a JSON path."""

    def __init__(self, where: str, field: str, problem: str):
        self.where, self.field, self.problem = where, field, problem
        super().__init__(f"{where}: field '{field}': {problem}")


_NAMES = {str: "a string", int: "an integer", bool: "a boolean", float: "a number",
          list: "a list", dict: "an object"}


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _is(value: Any, kind: type) -> bool:
    # JSON booleans decode to bool, a subclass of int: never accept them as numbers.
    if kind in (int, float) and isinstance(value, bool):
        return False
    if kind is float:
        return isinstance(value, (int, float))
    return isinstance(value, kind)


@dataclasses.dataclass(frozen=True)
class Fields:
    """One JSON object seen at `where`, under the JSON path `prefix`."""

    obj: Any
    where: str
    prefix: str = ""

    def __post_init__(self):
        if not isinstance(self.obj, Mapping):
            raise RecordError(self.where, self.prefix or "<record>",
                              f"expected an object, got {_type_name(self.obj)}")

    def path(self, key: str | int) -> str:
        if isinstance(key, int):
            return f"{self.prefix}[{key}]"
        return f"{self.prefix}.{key}" if self.prefix else key

    def error(self, key: str | int, problem: str) -> RecordError:
        return RecordError(self.where, self.path(key), problem)

    def has(self, key: str) -> bool:
        return self.obj.get(key) is not None

    def get(self, key: str, kind: type, *, optional: bool = False, default: Any = None) -> Any:
        if key not in self.obj or self.obj[key] is None:
            if optional:
                return default
            raise self.error(key, f"missing; expected {_NAMES[kind]}")
        value = self.obj[key]
        if not _is(value, kind):
            raise self.error(key, f"expected {_NAMES[kind]}, got {_type_name(value)}")
        return value

    def text(self, key: str, *, optional: bool = False, nonempty: bool = False) -> Any:
        value = self.get(key, str, optional=optional)
        if nonempty and value is not None and not value.strip():
            raise self.error(key, "expected a non-empty string")
        return value

    def sub(self, key: str, *, optional: bool = False) -> "Fields | None":
        value = self.get(key, dict, optional=optional)
        return None if value is None else Fields(value, self.where, self.path(key))

    def section(self, key: str) -> "Fields":
        """An optional sub-object; empty when absent, so its optional fields read as defaults."""
        return self.sub(key, optional=True) or Fields({}, self.where, self.path(key))

    def items(self, key: str, *, optional: bool = False, nonempty: bool = False) -> list["Fields"]:
        """A list of objects, each as Fields with its index in the path."""
        values = self.get(key, list, optional=optional, default=[])
        if nonempty and not values:
            raise self.error(key, "expected a non-empty list")
        return [Fields(v, self.where, f"{self.path(key)}[{i}]") for i, v in enumerate(values)]

    def strings(self, key: str, *, optional: bool = False, nonempty: bool = False) -> list[str]:
        values = self.get(key, list, optional=optional, default=[])
        if nonempty and not values:
            raise self.error(key, "expected a non-empty list")
        for i, v in enumerate(values):
            if not isinstance(v, str):
                raise RecordError(self.where, f"{self.path(key)}[{i}]",
                                  f"expected a string, got {_type_name(v)}")
        return list(values)

    def string_map(self, key: str, *, optional: bool = False) -> dict[str, str]:
        """A {name: value} object of strings (persona features)."""
        values = self.get(key, dict, optional=optional, default={})
        for k, v in values.items():
            if not isinstance(v, str):
                raise RecordError(self.where, f"{self.path(key)}.{k}",
                                  f"expected a string, got {_type_name(v)}")
        return dict(values)
