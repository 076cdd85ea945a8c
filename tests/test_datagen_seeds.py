"""Seed queries, targets and the once-per-run assignment (SPEC §1.3)."""
import collections
import random

import pytest

from data_gen.config import base_config
from data_gen.personas import Persona
from data_gen.plan import assign_seeds
from data_gen.seeds import SeedError, load_builtin, load_jsonl, target_turns, target_words


def test_builtin_set():
    seeds = load_builtin()
    assert len(seeds) >= 300
    assert len({s.id for s in seeds}) == len(seeds) == len({s.text for s in seeds})
    assert set(collections.Counter(s.category for s in seeds)) == {"instruction", "qa", "code", "math"}
    assert all(s.slots and all(x in s.text for x in s.slots) for s in seeds)


def test_extra_builtin_set_adds_new_queries():
    from data_gen.runner import parse_source
    from data_gen.seeds import builtin_sets, load_sources
    main, extra = load_builtin(), load_builtin("extra")
    assert set(builtin_sets()) >= {"", "extra"}
    assert len(extra) >= 450 and all(s.id.startswith("builtin_extra-") and s.source == "builtin_extra" for s in extra)
    assert all(s.slots and all(x in s.text for x in s.slots) for s in extra)
    assert not {s.text for s in main} & {s.text for s in extra}  # new queries, not copies
    both = load_sources([parse_source("builtin"), parse_source("builtin:extra")])
    assert len(both) == len({s.id for s in both}) == len(main) + len(extra)
    with pytest.raises(SeedError, match="no built-in seed set 'nope'; shipped: '', 'extra'"):
        load_sources([parse_source("builtin:nope")])
    with pytest.raises(SeedError, match="expected builtin"):
        parse_source("builtin:a:b")


def test_jsonl_source_and_errors(tmp_path):
    good = tmp_path / "s.jsonl"
    good.write_text('{"text": "How do tides work?", "id": "t1"}\n\n{"text": "Sort a list", "slots": ["a list"]}\n')
    seeds = load_jsonl(good)
    assert [s.id for s in seeds] == ["t1", "s-3"] and seeds[1].slots == ("a list",)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n{"prompt": "no text"}\n')
    with pytest.raises(SeedError, match=r"bad.jsonl:2: field 'text'"):
        load_jsonl(bad)
    bad.write_text('{"text": "ok"}\n{not json\n')
    with pytest.raises(SeedError, match=r"bad.jsonl:2: not valid JSON"):
        load_jsonl(bad)


def test_targets():
    rng = random.Random(0)
    turns = [target_turns(rng) for _ in range(4000)]
    assert min(turns) >= 2 and max(turns) <= 5
    assert 2.9 < sum(turns) / len(turns) < 3.1
    assert all(20 <= target_words(rng, "short") <= 40 for _ in range(100))
    assert all(80 <= target_words(rng, "long") <= 150 for _ in range(100))


def test_each_seed_used_once_across_shards():
    seeds = load_builtin()
    personas = [Persona(f"p{i}", {}) for i in range(50)]
    used = []
    for shard in range(3):
        cfg = base_config()
        cfg.shard_index, cfg.num_shards = shard, 3
        a = assign_seeds(cfg, personas, seeds)
        used += [s.id for group in a.per_persona.values() for s in group] + [s.id for s in a.supplements]
        assert all(len(g) == 5 for g in a.per_persona.values())
    assert len(used) == len(set(used)) == len(seeds)


def test_too_few_seeds_is_a_clear_error():
    from data_gen.plan import PlanError
    with pytest.raises(PlanError, match="need 500 seed queries"):
        assign_seeds(base_config(), [Persona(f"p{i}", {}) for i in range(100)], load_builtin())


def test_tfds_source_reads_prepared_data(tmp_path):
    from data_gen.runner import parse_source
    from data_gen.seeds import load_sources
    from personax.data.tfds_builder import prepare

    rows = [{"persona_id": f"Explain topic number {i} please"} for i in range(7)]
    prepare(tmp_path, "conversations", {"train": rows})
    seeds = load_sources([parse_source(f"tfds:personax_atlas/conversations:train:persona_id:5:{tmp_path}")])
    assert len(seeds) == 5 and {s.text for s in seeds} <= {r["persona_id"] for r in rows}
    assert all(s.source == "tfds:personax_atlas/conversations" for s in seeds)
    with pytest.raises(SeedError, match="not available locally"):
        load_sources([parse_source(f"tfds:personax_atlas/conversations:test:persona_id::{tmp_path}")])
    with pytest.raises(SeedError, match="expected builtin"):
        parse_source("tfds:only_a_name")
