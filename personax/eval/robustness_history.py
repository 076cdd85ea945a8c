"""History transforms for the robustness sweeps: keep the last k sessions, or re-noise the user's
messages in one distractor layer at a rate, from the PersonaGym records each session came from.

A held-out state keeps its query and persona; only its history sessions change (and with them the
state text the policy reads).
"""
from __future__ import annotations

import dataclasses
import pathlib
from typing import Sequence

from data_gen.distractor import DistractorConfig, choose
from data_gen.roles import Distractor, call_key
from personax.data.examples import PPOptExample
from personax.data.importers import load
from personax.data.records import RichRecord
from personax.data.state import build_state, render_session
from personax.llm.sim.rng import derive


def with_history(example: PPOptExample, sessions: Sequence[str]) -> PPOptExample:
    return dataclasses.replace(example, history_texts=tuple(sessions),
                               input=build_state(sessions, example.original_query))


def keep_last(example: PPOptExample, k: int) -> PPOptExample:
    """The last k history sessions (a state with fewer keeps all it has)."""
    if k < 1:
        raise ValueError(f"eval.robustness.sessions: k must be >= 1, got {k}")
    return with_history(example, example.history_texts[-k:])


def as_sent(record: RichRecord) -> str:
    return render_session([(m.role, m.content) for m in record.messages])


class NotInAtlas(ValueError):
    """A held-out state's sessions (or their plans) are not in this workdir's PersonaGym run."""


class AtlasHistories:
    """The PersonaGym conversations behind each held-out state's history sessions (rich records, which
    keep every user message's clean version and noise record)."""

    def __init__(self, path: pathlib.Path):
        loaded = load(path)
        if loaded.kind != "rich":
            raise ValueError(f"{path}: expected rich PersonaAtlas records, got {loaded.kind!r}")
        self.path = path
        self.by_persona: dict[str, list[RichRecord]] = {}
        for rec in loaded.records:
            self.by_persona.setdefault(rec.persona_id, []).append(rec)

    def records(self, example: PPOptExample) -> list[RichRecord]:
        """One record per history session, in order: the persona's conversation that renders to it."""
        rendered = {as_sent(r): r for r in self.by_persona.get(example.persona_id, [])}
        missing = [i for i, text in enumerate(example.history_texts, 1) if text not in rendered]
        if missing:
            raise NotInAtlas(f"state {example.state_id}: history session(s) {missing} match no conversation of "
                             f"persona {example.persona_id} in {self.path}; was the split built from another atlas?")
        return [rendered[text] for text in example.history_texts]


@dataclasses.dataclass(frozen=True)
class NoisedSession:
    text: str
    eligible: int  # user messages with a known clean version
    noised_turns: tuple[int, ...]

    @property
    def noised(self) -> int:
        return len(self.noised_turns)


def noise_gate(seed: int, record: RichRecord, turn: int) -> float:
    """The message's uniform draw, shared by every layer and rate: a message noised at rate r is noised
    at every higher rate too, and the layers differ only in the kind of noise, not in which messages."""
    return derive(seed, "robustness-noise", record.sample_id, turn).random()


async def noised_in_layer(record: RichRecord, layer: str, rate: float, seed: int, role: Distractor,
                          layers: dict) -> NoisedSession:
    """The session with each eligible user message noised in `layer` when its gate is below `rate`,
    clean otherwise. A message the generator already noised in this layer keeps that noisy text; others
    are noised afresh by the distractor role (strategies drawn as the generator draws them)."""
    if layer not in layers:
        raise ValueError(f"eval.robustness.noise_layers: unknown layer {layer!r}; the distractor has {sorted(layers)}")
    turns, eligible, noised = [], 0, []
    for m in record.messages:
        if m.role != "user" or m.clean_version is None:
            turns.append((m.role, m.content))
            continue
        eligible += 1
        if noise_gate(seed, record, m.turn) >= rate:
            turns.append((m.role, m.clean_version))
            continue
        noised.append(m.turn)
        if m.noise is not None and m.noise.layer == layer and m.was_noised:
            turns.append((m.role, m.content))
            continue
        key = call_key(record.sample_id, 0, f"robustness-{layer}-u{m.turn}")
        _, strategies = choose(DistractorConfig(1.0, {layer: layers[layer]}), derive(seed, "robustness-layer", key))
        semantics = await role.extract(m.clean_version, key)
        turns.append((m.role, await role.rewrite(m.clean_version, semantics, layer, strategies, record.persona, key)))
    return NoisedSession(render_session(turns), eligible, tuple(noised))
