"""Robustness sweeps: each history transform on sim PersonaGym data, and a small sweep end to end
(report files, resume, skipped sweeps)."""
import asyncio
import collections
import json
import shutil

import pytest

from data_gen.distractor import DEFAULT_LAYERS
from personax.data.state import parse_state, render_session
from personax.eval import run as eval_run
from personax.eval.config import get_eval_config
from personax.eval.robustness_history import AtlasHistories, NotInAtlas, as_sent, keep_last, noised_in_layer
from personax.eval.robustness_traits import Regenerator, traits_expressed
from personax.eval.run import run_eval
from personax.llm.cache import ResponseCache
from personax.llm.sim.deployed import SimDeployed
from personax.llm.sim.distractor import SimDistractor
from personax.llm.sim.judges import SimJudges
from personax.train.data_stage import run_data
from personax.train.experiment import experiment
from personax.train.sft_run import read_examples

from helpers import Counting

LAYERS = tuple(DEFAULT_LAYERS)


def sim_config(**robustness):
    cfg = experiment()
    cfg.progress = False
    cfg.data.datagen.num_personas = 16
    cfg.data.splits = "sft=4,rl=4,eval=8"
    cfg.eval = get_eval_config()
    cfg.eval.update({"methods": ("original", "full_history"), "bootstrap_samples": 100, "plots": False})
    cfg.eval.robustness.update({"enabled": True, "methods": ("original", "full_history"), "max_examples": 4,
                                "noise_rates": (0.0, 0.5, 1.0), "express_scales": (0.25, 1.0), **robustness})
    return cfg


@pytest.fixture(scope="module")
def sim_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("robust")
    run_data(sim_config(), root)
    return root


@pytest.fixture(scope="module")
def held_out(sim_root):
    examples = read_examples(sim_root / "data" / "ppopt" / "eval.jsonl")
    atlas = AtlasHistories(sim_root / "data" / "atlas" / "personaatlas_rich.jsonl")
    return examples, atlas, [r for e in examples for r in atlas.records(e)]


class Recording(SimDistractor):
    def __init__(self):
        super().__init__()
        self.rewrites = []

    async def rewrite(self, text, semantics, layer, strategies, persona, key):
        self.rewrites.append((text, layer, tuple(strategies)))
        return await super().rewrite(text, semantics, layer, strategies, persona, key)


def noised(record, layer, rate, seed=0, role=None):
    return asyncio.run(noised_in_layer(record, layer, rate, seed, role or SimDistractor(), DEFAULT_LAYERS))


def test_atlas_records_render_to_each_states_history(held_out):
    examples, atlas, _ = held_out
    for e in examples:
        assert [as_sent(r) for r in atlas.records(e)] == list(e.history_texts)
    stranger = examples[0].__class__(**{**examples[0].to_json(), "history_texts": ("User: hello",)})
    with pytest.raises(NotInAtlas, match=f"state {stranger.state_id}: history session"):
        atlas.records(stranger)


def test_rate_zero_gives_the_clean_history(held_out):
    _, _, records = held_out
    assert any(m.was_noised for r in records for m in r.messages)  # the generator noised some
    for layer in LAYERS:
        for r in records:
            out = noised(r, layer, 0.0)
            clean = render_session([(m.role, m.clean_version if m.role == "user" else m.content) for m in r.messages])
            assert out.text == clean and out.noised == 0 and out.eligible == sum(m.role == "user" for m in r.messages)


@pytest.mark.parametrize("layer", LAYERS)
def test_rate_one_noises_every_eligible_message_in_that_layer(held_out, layer):
    _, _, records = held_out
    role = Recording()
    for r in records:
        out = noised(r, layer, 1.0, role=role)
        assert out.noised == out.eligible > 0
        users = [m for m in r.messages if m.role == "user"]
        kept = [m for m in users if m.was_noised and m.noise.layer == layer]  # the generator's own noise, reused
        for m in kept:
            assert f"User: {m.content}" in out.text
    fresh = [m for r in records for m in r.messages
             if m.role == "user" and not (m.was_noised and m.noise.layer == layer)]
    assert [t for t, _, _ in role.rewrites] == [m.clean_version for m in fresh]
    assert {lay for _, lay, _ in role.rewrites} == {layer}
    assert all(set(s) <= set(DEFAULT_LAYERS[layer]["strategies"]) and s for _, _, s in role.rewrites)
    changed = sum(f"User: {m.clean_version}\n" not in noised(r, layer, 1.0).text + "\n"
                  for r in records for m in r.messages if m.role == "user")
    assert changed >= 0.8 * len([m for r in records for m in r.messages if m.role == "user"])


def test_noise_is_seeded_nested_across_rates_and_shared_across_layers(held_out):
    _, _, records = held_out

    def noised_turns(layer, rate, seed=0):
        return {(r.sample_id, t) for r in records for t in noised(r, layer, rate, seed).noised_turns}
    half = noised_turns("incomplete_info", 0.5)
    assert half == noised_turns("incomplete_info", 0.5)
    assert 0 < len(half) < sum(m.role == "user" for r in records for m in r.messages)
    assert half <= noised_turns("incomplete_info", 0.75)
    assert noised_turns("incomplete_info", 0.5, seed=1) != half
    counts = [sum(noised(r, layer, 0.5).noised for r in records) for layer in LAYERS]
    assert len(set(counts)) == 1  # the same messages in every layer


def test_sparsity_keeps_exactly_the_last_k_sessions(held_out):
    examples, _, _ = held_out
    e = max(examples, key=lambda x: len(x.history_texts))
    assert len(e.history_texts) >= 3
    for k in (1, 2, len(e.history_texts), len(e.history_texts) + 1):
        kept = keep_last(e, k)
        assert kept.history_texts == e.history_texts[-k:]
        assert parse_state(kept.input) == (list(e.history_texts[-k:]), e.original_query)
        assert (kept.state_id, kept.persona, kept.original_query) == (e.state_id, e.persona, e.original_query)
    with pytest.raises(ValueError, match="k must be >= 1"):
        keep_last(e, 0)


def test_traits_regeneration_is_faithful_at_scale_one_and_sparser_below(held_out, sim_root, tmp_path):
    examples, atlas, records = held_out
    regen = Regenerator(sim_config().data.datagen, sim_root / "data" / "atlas", ResponseCache(tmp_path))

    def histories(scale):
        roles = regen.roles(scale)
        async def all_of():
            return await asyncio.gather(*(regen.regenerate(r, roles) for r in records))
        fresh = asyncio.run(all_of())
        return [as_sent(r) for r in fresh]
    assert histories(1.0) == [as_sent(r) for r in records]
    sparse = histories(0.25)
    it = iter(sparse)
    thinned = [e.__class__(**{**e.to_json(), "history_texts": tuple(next(it) for _ in e.history_texts)})
               for e in examples]
    assert traits_expressed(thinned) < 0.6 * traits_expressed(examples)


def test_sweep_end_to_end_writes_points_report_and_resumes(sim_root, tmp_path, monkeypatch):
    shutil.copytree(sim_root / "data", tmp_path / "data")
    calls = collections.Counter()
    monkeypatch.setattr(eval_run, "build_deployed", lambda c: Counting(SimDeployed(seed=c.deployed.sim.seed), calls))
    monkeypatch.setattr(eval_run, "build_judges", lambda c: Counting(SimJudges(), calls))
    cfg = sim_config()
    cfg.eval.plots = True
    rb = run_eval(cfg, tmp_path)["robustness"]
    assert rb["skipped"] == {} and rb["n_examples"] == 4
    assert list(rb["curves"]) == [f"noise: {layer}" for layer in LAYERS] + ["sparsity", "traits"]
    assert [p["x"] for p in rb["curves"]["sparsity"]] == [1, 2, 3, 4]
    assert {p["key"] for c in LAYERS for p in rb["curves"][f"noise: {c}"] if p["x"] == 0} == {"noise/clean"}
    points = {p["key"] for pts in rb["curves"].values() for p in pts}
    assert len(points) == 1 + 2 * 3 + 4 + 2
    report = tmp_path / "report"
    for key in points:
        items = [json.loads(line) for line in (report / "robustness" / key / "items.jsonl").open()]
        assert len(items) == 8 and {i["method"] for i in items} == {"original", "full_history"}
    for pts in rb["curves"].values():
        for p in pts:
            assert p["methods"]["full_history"]["n"] == 4 and p["methods"]["original"]["personalization"]["mean"]
    one = rb["curves"]["sparsity"][0]["methods"]["full_history"]
    assert one["prompt_words"] < rb["curves"]["sparsity"][-1]["methods"]["full_history"]["prompt_words"]
    traits = rb["curves"]["traits"]
    assert traits[0]["measured"]["traits expressed"] < traits[1]["measured"]["traits expressed"]
    assert rb["curves"]["noise: surface_noise"][-1]["measured"]["messages noised"] == 1.0
    text = (report / "report.md").read_text()
    assert "## Robustness" in text and "### noise: semantic_ambiguity" in text and "](robustness.png)" in text
    assert (report / "robustness.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    calls.clear()
    again = run_eval(cfg, tmp_path)["robustness"]
    assert sum(calls.values()) == 0 and json.dumps(again, sort_keys=True) == json.dumps(rb, sort_keys=True)
    calls.clear()
    cfg.eval.robustness.noise_rates = (0.0, 0.25, 0.5, 1.0)  # one new point per layer: only those are scored
    run_eval(cfg, tmp_path)
    assert calls["personalization"] == 3 * 4 * 2


def test_without_an_atlas_noise_and_traits_are_skipped_with_a_note(sim_root, tmp_path):
    shutil.copytree(sim_root / "data" / "ppopt", tmp_path / "data" / "ppopt")
    rb = run_eval(sim_config(sweeps=("noise", "sparsity", "traits")), tmp_path)["robustness"]
    assert list(rb["curves"]) == ["sparsity"]
    assert set(rb["skipped"]) == {"noise", "traits"} and "no PersonaGym atlas" in rb["skipped"]["noise"]


def test_traits_sweep_needs_the_sim_user(sim_root, tmp_path):
    shutil.copytree(sim_root / "data", tmp_path / "data")
    cfg = sim_config(sweeps=("traits",))
    cfg.data.datagen.roles.user.backend = "hosted"
    rb = run_eval(cfg, tmp_path)["robustness"]
    assert rb["curves"] == {} and "roles.user not on the sim backend" in rb["skipped"]["traits"]
    assert "## Robustness" in (tmp_path / "report" / "report.md").read_text()


@pytest.mark.parametrize("field, value, message", [
    ("noise_rates", (0.0, 1.5), r"eval.robustness.noise_rates: \[1.5\] not in \[0, 1\]"),
    ("sessions", (0, 2), r"eval.robustness.sessions: \[0\] not integers >= 1"),
    ("methods", ("original", "bpo"), r"eval.robustness.methods: unknown \['bpo'\]"),
    ("sweeps", ("noise", "typos"), r"eval.robustness.sweeps: unknown \['typos'\]")])
def test_bad_robustness_config_fails_before_any_scoring(sim_root, tmp_path, field, value, message):
    shutil.copytree(sim_root / "data", tmp_path / "data")
    with pytest.raises(ValueError, match=message):
        run_eval(sim_config(**{field: value}), tmp_path)
    assert not (tmp_path / "report" / "items.jsonl").exists()
