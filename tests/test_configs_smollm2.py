"""configs/smollm2_cpu.py and its variants build valid objects (no training: the config only)."""
import pytest

from data_gen.runner import parse_source
from data_gen.seeds import load_sources
from personax.configfile import load_config
from personax.data.build import parse_sizes
from personax.rl.config import batch_hierarchy, loss_config


@pytest.mark.parametrize("variant", ["", "ablations", "long"])
def test_variants_build_valid_hierarchies_and_have_seeds_enough(variant):
    cfg = load_config("configs/smollm2_cpu.py" + (f":{variant}" if variant else ""))
    h = batch_hierarchy(cfg.grpo)
    loss_config(cfg.grpo)
    assert h.share_prompt and h.micro_batch_size % h.group_size == 0
    d = cfg.data.datagen
    seeds = load_sources([parse_source(s) for s in d.seed_sources])
    assert d.num_personas * d.conversations_per_persona <= len(seeds)
    assert sum(parse_sizes(cfg.data.splits).values()) == d.num_personas


def test_unknown_variant_is_named():
    with pytest.raises(ValueError, match="unknown variant 'nope'; known: 'ablations', 'long'"):
        load_config("configs/smollm2_cpu.py:nope")
