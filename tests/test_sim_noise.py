"""The 17 procedural noise strategies and the layer/strategy choice (SPEC §1.5)."""
import asyncio
import collections
import random

import pytest

from data_gen.distractor import DEFAULT_LAYERS, DistractorConfig, choose, noise_message
from personax.llm.sim import noise
from personax.llm.sim.distractor import SimDistractor
from personax.llm.sim.world import load_world

TEXT = ("Could you explain how compound interest works for savings accounts? I need a simple example "
        "and I want to compare banks before Friday.")
SLOTS = ("compound interest", "savings accounts")


def ctx(seed=0, register="casual"):
    return noise.NoiseContext(random.Random(seed), SLOTS, load_world()["noise"], register)


def test_all_17_strategies_registered_and_in_layers():
    in_layers = {s for layer in DEFAULT_LAYERS.values() for s in layer["strategies"]}
    assert in_layers == set(noise.STRATEGIES) and len(in_layers) == 17


@pytest.mark.parametrize("name", sorted(noise.STRATEGIES))
def test_each_strategy_changes_text(name):
    changed = [noise.apply(TEXT, [name], ctx(seed)) != TEXT for seed in range(5)]
    assert all(changed), name


@pytest.mark.parametrize("name", sorted(DEFAULT_LAYERS["surface_noise"]["strategies"]))
def test_surface_noise_keeps_slots(name):
    for seed in range(5):
        out = noise.apply(TEXT, [name], ctx(seed))
        assert all(s in out for s in SLOTS), (name, out)


def test_incomplete_info_damages_slots():
    for name in ("missing_slots", "vague_slot_values", "context_dependency"):
        out = noise.apply(TEXT, [name], ctx(1))
        assert sum(s in out for s in SLOTS) == 1, (name, out)


def test_register_respected():
    pools = load_world()["noise"]
    for seed in range(20):
        out = noise.apply(TEXT, ["emotional_attitude", "real_life_fragments"], ctx(seed, "formal"))
        assert not any(p in out for p in pools["emotional_attitude"]["casual"] + pools["real_life_fragments"]["casual"])


def test_unknown_strategy_is_named():
    with pytest.raises(KeyError, match="sparkles"):
        noise.apply(TEXT, ["sparkles"], ctx())


def test_layer_and_strategy_choice_frequencies():
    rng = random.Random(0)
    picks = [choose(DistractorConfig(), rng) for _ in range(6000)]
    layers = collections.Counter(l for l, _ in picks)
    for name, want in (("surface_noise", 0.5), ("incomplete_info", 0.3), ("semantic_ambiguity", 0.2)):
        assert abs(layers[name] / len(picks) - want) < 0.03
    assert all(s and set(s) <= set(DEFAULT_LAYERS[l]["strategies"]) for l, s in picks)
    # If no strategy fires, exactly one is drawn uniformly, so singletons must be common in
    # semantic_ambiguity where all four misfire with probability .4*.5*.3*.6 = .036.
    surface = [s for l, s in picks if l == "surface_noise"]
    mean_k = sum(map(len, surface)) / len(surface)
    assert 2.6 < mean_k < 3.2  # sum of the probabilities (2.9) plus the rare forced pick


def test_noise_message_gate_and_record():
    role = SimDistractor()
    recs = [asyncio.run(noise_message(TEXT, {"formality_level": "casual"}, role, DistractorConfig(), 0, f"k{i}"))
            for i in range(800)]
    noised = [r for r in recs if r.layer_index]
    assert 0.21 < len(noised) / len(recs) < 0.29
    skipped = next(r for r in recs if not r.layer_index)
    assert skipped.layer == "skipped" and skipped.noisy_text == TEXT and not skipped.applied_strategies
    r = noised[0]
    assert r.original_text == TEXT and r.noisy_text != TEXT
    assert r.layer_index == DEFAULT_LAYERS[r.layer]["index"] and r.applied_strategies
    assert set(r.extracted_semantics) == {"intent", "slots", "compressed_text"}
    assert asyncio.run(noise_message(TEXT, {}, role, DistractorConfig(), 0, "k3")) == recs[3]
