"""`--config.a.b=value` overrides: typed by the field they replace, typed placeholders included."""
import pytest
from ml_collections import config_dict

from personax.configfile import ConfigError, apply_override, split_overrides


def _cfg():
    c = config_dict.ConfigDict()
    c.grpo = config_dict.ConfigDict(dict(steps=12, lr=1e-4, share=False, splits=("rl",), name="x"))
    c.grpo.seed = config_dict.placeholder(int)
    c.grpo.top_p = config_dict.placeholder(float)
    return c


@pytest.mark.parametrize("dotted, text, expected", [
    ("grpo.steps", "24", 24), ("grpo.lr", "3e-4", 3e-4), ("grpo.share", "true", True),
    ("grpo.splits", '("rl","sft")', ("rl", "sft")), ("grpo.splits", "rl,sft", ("rl", "sft")),
    ("grpo.name", "y", "y"), ("grpo.seed", "1", 1), ("grpo.top_p", "0.9", 0.9)])
def test_an_override_takes_the_type_of_its_field(dotted, text, expected):
    c = _cfg()
    apply_override(c, dotted, text)
    value = c.grpo[dotted.split(".")[1]]
    assert value == expected and type(value) is type(expected)


def test_a_group_is_replaced_whole_by_a_dict_literal():
    c = _cfg()
    c.rewards = config_dict.ConfigDict(dict(weights=dict(profile=0.3, task_pairwise=0.7)))
    apply_override(c, "rewards.weights", "{'profile': 0.3, 'sim_task': 0.5}")
    assert c.rewards.weights.to_dict() == {"profile": 0.3, "sim_task": 0.5}


@pytest.mark.parametrize("dotted, text, message", [
    ("grpo", "24", "a config group takes a dict literal"), ("grpo", "{1: 2}", "a config group takes a dict"),
    ("grpo.steps", "many", "expected int, got 'many'"), ("grpo.seed", "one", "expected int, got 'one'"),
    ("grpo.share", "maybe", "expected true/false"), ("grpo.nope", "1", "unknown field"),
    ("sft.steps", "1", "no config group 'sft'")])
def test_a_bad_override_names_the_field_and_the_value(dotted, text, message):
    with pytest.raises(ConfigError, match=message):
        apply_override(_cfg(), dotted, text)


def test_overrides_split_from_other_arguments():
    pairs, rest = split_overrides(["--workdir", "w", "--config.grpo.seed=2", "--config.grpo.lr", "1e-5"])
    assert pairs == [("grpo.seed", "2"), ("grpo.lr", "1e-5")] and rest == ["--workdir", "w"]
    with pytest.raises(ConfigError, match="missing value"):
        split_overrides(["--config.grpo.lr"])
