"""Typed access to `world.json`: the one table of trait cues, instructions and answer markers."""
from __future__ import annotations

import dataclasses
import functools
import json
import pathlib
from typing import Any

WORLD_PATH = pathlib.Path(__file__).with_name("world.json")
KINDS = ("explicit", "implicit", "message_length")


@dataclasses.dataclass(frozen=True)
class Instruction:
    text: str  # template with {phrase}
    reliability: float  # probability the sim deployed model follows this phrasing


@dataclasses.dataclass(frozen=True)
class Trait:
    dim: str
    kind: str
    express_prob: float
    label: str
    position: str = "inline"  # "opener": the cue starts the message
    cues: tuple[str, ...] = ()
    value_cues: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    instructions: tuple[Instruction, ...] = ()
    phrases: dict[str, str] = dataclasses.field(default_factory=dict)

    def phrase(self, value: str) -> str:
        return self.phrases.get(value, value.replace("_", " "))

    def cues_for(self, value: str) -> tuple[str, ...]:
        """Every way a user with this value may reveal it (empty: never revealed)."""
        if value in self.value_cues:
            return self.value_cues[value]
        return tuple(c.format(phrase=self.phrase(value)) for c in self.cues)

    def instructions_for(self, value: str) -> tuple[Instruction, ...]:
        """Rendered phrasings, most reliable first."""
        rendered = (Instruction(i.text.format(phrase=self.phrase(value)), i.reliability) for i in self.instructions)
        return tuple(sorted(rendered, key=lambda i: -i.reliability))

    def marker(self, value: str) -> str:
        """What an answer that follows this trait visibly carries (checked by the sim judges)."""
        return f"({self.label}: {self.phrase(value)})"


@dataclasses.dataclass(frozen=True)
class World:
    traits: dict[str, Trait]
    sections: dict[str, Any]  # user, assistant, teacher, others, noise, register

    def __getitem__(self, section: str) -> Any:
        return self.sections[section]

    def register(self, persona: dict[str, str]) -> str:
        """'formal' or 'casual': which phrase pools fit this persona's voice."""
        rules = self.sections["register"]["formal_if"]
        return "formal" if any(persona.get(d) in vals for d, vals in rules.items()) else "casual"


def _trait(dim: str, raw: dict[str, Any]) -> Trait:
    if raw.get("kind") not in KINDS:
        raise ValueError(f"{WORLD_PATH.name}: traits.{dim}.kind must be one of {KINDS}, got {raw.get('kind')!r}")
    if not 0.0 <= float(raw.get("express_prob", -1)) <= 1.0:
        raise ValueError(f"{WORLD_PATH.name}: traits.{dim}.express_prob must be in [0, 1]")
    instructions = tuple(Instruction(i["text"], float(i["reliability"])) for i in raw.get("instructions", []))
    return Trait(dim, raw["kind"], float(raw["express_prob"]), raw.get("label", dim), raw.get("position", "inline"),
                 tuple(raw.get("cues", [])), {v: tuple(c) for v, c in raw.get("value_cues", {}).items()},
                 instructions, dict(raw.get("phrases", {})))


@functools.lru_cache(maxsize=4)
def load_world(path: str = str(WORLD_PATH)) -> World:
    raw = json.loads(pathlib.Path(path).read_text(encoding="utf-8"))
    traits = {dim: _trait(dim, t) for dim, t in raw["traits"].items()}
    return World(traits, {k: v for k, v in raw.items() if k != "traits"})


def expressed_cues(world: World, persona: dict[str, str]) -> dict[str, tuple[str, ...]]:
    """dim -> the cue strings this persona may use (traits with no cue are left out)."""
    out = {}
    for dim, value in persona.items():
        trait = world.traits.get(dim)
        if trait is not None and trait.kind != "message_length" and trait.cues_for(value):
            out[dim] = trait.cues_for(value)
    return out
