"""The ablation stages (personax/train/stages.py): lineage, no-profile targets, task-only weights, and a
tiny no-profile SFT -> GRPO run whose policy the eval methods can load."""
import json
import pathlib

import pytest

from personax.configfile import load_config
from personax.data.examples import PPOptExample
from personax.eval.policy_methods import POLICY_METHODS
from personax.train.grpo_run import run_grpo
from personax.train.policy_init import load_policy
from personax.train.sft_run import read_examples, run_sft
from personax.train.stages import STAGES, get_stage, lineage, sft_split, stage_config, strip_profile

SMOKE = pathlib.Path(__file__).parents[1] / "configs" / "smoke_cpu.py"


def test_lineage_and_errors():
    assert [s.name for s in lineage("grpo_no_profile")] == ["sft_no_profile", "grpo_no_profile"]
    assert [s.name for s in lineage("grpo_task_only")] == ["sft", "grpo_task_only"]
    with pytest.raises(ValueError, match="unknown training stage 'grpo_typo'"):
        get_stage("grpo_typo")
    assert set(POLICY_METHODS.values()) - {"zero_shot"} <= set(STAGES)


def test_strip_profile_keeps_the_rewrite_only():
    e = PPOptExample("s", "p", {}, ("h",), "q", "state",
                     "<REASONING>likes tables</REASONING><PROMPT>Give a table of X.</PROMPT>")
    assert strip_profile(e).output == "<PROMPT>Give a table of X.</PROMPT>"
    with pytest.raises(ValueError, match="no SFT target"):
        strip_profile(PPOptExample("s", "p", {}, ("h",), "q", "state"))


def test_stage_config_replaces_weights_on_a_copy():
    cfg = load_config(str(SMOKE))
    task_only = stage_config(cfg, get_stage("grpo_task_only"))
    assert dict(task_only.rewards.weights) == {"profile": 0.0, "task_pairwise": 1.0}
    assert dict(cfg.rewards.weights)["profile"] == 0.3
    assert stage_config(cfg, get_stage("grpo")) is cfg


def test_no_profile_sft_then_grpo_trains_and_loads(tmp_path):
    cfg = load_config(str(SMOKE))
    cfg.progress = False
    cfg.mesh.update(data=2, tensor=4)  # batches of 2 on the 8 test devices
    cfg.data.datagen.num_personas = 12
    cfg.data.splits = "sft=6,rl=4,eval=2"
    cfg.sft.update(steps=2, batch_size=2, grad_accum=1, max_len=384, checkpoint_every=2)
    cfg.grpo.update(steps=1, max_prompt_len=256, checkpoint_every=1)
    cfg.grpo.sampling.max_new_tokens = 8

    with pytest.raises(ValueError, match="is a sft stage"):
        run_grpo(cfg, tmp_path, "sft_no_profile")
    sft = run_sft(cfg, tmp_path, "sft_no_profile")
    assert sft["step"] == 2
    targets = [e.output for e in read_examples(sft_split(get_stage("sft_no_profile"),
                                                         tmp_path / "data" / "ppopt" / "sft.jsonl"))]
    assert targets and all(t.startswith("<PROMPT>") and "<REASONING>" not in t for t in targets)

    grpo = run_grpo(cfg, tmp_path, "grpo_no_profile")
    assert grpo["step"] == 1 and grpo["started_from_sft"]
    logged = json.loads((tmp_path / "grpo_no_profile" / "metrics.jsonl").read_text().splitlines()[-1])
    assert logged["reward/task_pairwise/weight"] == 1.0 and "reward/profile/weight" not in logged
    assert not (tmp_path / "sft").exists() and not (tmp_path / "grpo").exists()

    load_policy(cfg, tmp_path, "grpo_no_profile")
    with pytest.raises(FileNotFoundError, match="no sft checkpoint"):
        load_policy(cfg, tmp_path, "grpo_task_only")


def test_grpo_prompt_states_come_from_the_named_splits_and_never_the_held_out_one(smoke_data):
    from personax.train.data_stage import split_paths
    from personax.train.grpo_run import prompt_states
    cfg = load_config(str(SMOKE))
    paths = split_paths(smoke_data, cfg.data)
    rl, sft = read_examples(paths["rl"]), read_examples(paths["sft"])
    both = prompt_states(paths, ("rl", "sft"), held_out=cfg.eval.split)
    assert [e.state_id for e in both] == [e.state_id for e in rl + sft]
    assert [e.state_id for e in prompt_states(paths, ("rl",), held_out="eval")] == [e.state_id for e in rl]
    with pytest.raises(ValueError, match=r"unknown split\(s\) \['train'\]; the data has \['eval', 'rl', 'sft'\]"):
        prompt_states(paths, ("rl", "train"), held_out="eval")
    with pytest.raises(ValueError, match="must not name 'eval'"):
        prompt_states(paths, ("rl", "eval"), held_out="eval")
    with pytest.raises(ValueError, match="unknown split"):
        prompt_states(paths, (), held_out="eval")
    two = prompt_states(paths, ("rl", "sft"), held_out="eval", max_states=2)
    assert [e.state_id for e in two] == [e.state_id for e in rl[:2]]
    for bad in (0, len(rl) + len(sft) + 1):
        with pytest.raises(ValueError, match=rf"grpo.max_states={bad}: must be 1 to the {len(rl) + len(sft)} states"):
            prompt_states(paths, ("rl", "sft"), held_out="eval", max_states=bad)
