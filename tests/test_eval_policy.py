"""The PPOpt policy methods: batched greedy rewrites on the sampler, parsing, skipping missing stages."""
import json
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

from personax.eval.methods import MethodContext, MethodSkipped, get_method
from personax.eval.policy_methods import sample_rewrites
from personax.eval.run import run_eval
from personax.train.checkpoint import Checkpointer
from personax.train.policy_init import load_policy
from personax.train.sft_run import read_examples

from helpers import SMOKE, smoke_eval_config


def test_zero_shot_policy_rewrites_every_state_and_missing_stages_are_skipped(smoke_data, tmp_path):
    shutil.copytree(smoke_data / "data", tmp_path / "data")
    cfg = smoke_eval_config(methods=("original", "ppopt_zero_shot", "ppopt_sft", "ppopt_grpo"))
    cfg.eval.policy.batch_size = 4  # 6 states: a full batch and a padded one
    summary = run_eval(cfg, tmp_path)
    assert set(summary["skipped"]) == {"ppopt_sft", "ppopt_grpo"}
    assert "no sft checkpoint" in summary["skipped"]["ppopt_sft"]
    m = summary["methods"]["ppopt_zero_shot"]
    assert m["n"] == 6 and m["answer_failed_rate"] == 0.0
    assert m["fallback_rate"] + m["no_prompt_tag_rate"] <= 1.0
    # The policy's profile is judged (1..5; no profile = 1), so the held-out reward is reported for it only.
    items = [json.loads(line) for line in (tmp_path / "report" / "items.jsonl").open()]
    assert all(1.0 <= i["profile"] <= 5.0 for i in items if i["method"] == "ppopt_zero_shot")
    assert not any("profile" in i for i in items if i["method"] == "original")
    assert m["profile"]["n"] == 6 and 0.0 <= m["reward"]["mean"] <= 1.0
    assert summary["stage_gains"] == {}  # no trained stage to compare with
    assert "## PPOpt stages: held-out reward" in (tmp_path / "report" / "report.md").read_text()


def test_batching_does_not_change_greedy_rewrites(smoke_data):
    cfg = smoke_eval_config()
    examples = read_examples(smoke_data / "data" / "ppopt" / "eval.jsonl")[:3]
    model, tok = load_policy(cfg, smoke_data, "zero_shot")
    ctx = MethodContext(cfg, smoke_data, deployed=None, summarizer=None)
    cfg.eval.policy.batch_size = 2
    in_twos = sample_rewrites(model, tok, examples, ctx)
    cfg.eval.policy.batch_size = 3
    assert sample_rewrites(model, tok, examples, ctx) == in_twos
    assert len(in_twos) == 3 and all(isinstance(t, str) for t in in_twos)


def _save(workdir: pathlib.Path, stage: str, step: int) -> None:
    ckpt = Checkpointer(str(workdir / stage / "checkpoints"), max_to_keep=None, async_save=False)
    ckpt.save(step, {"w": np.zeros(2, np.float32)})
    ckpt.close()


def test_policy_version_tells_retrained_checkpoints_and_sampling_lengths_apart(tmp_path):
    """Two runs that save SFT at the same step are two policies: their items must not be reused for each other."""
    cfg = smoke_eval_config()
    ctx = MethodContext(cfg, tmp_path, deployed=None, summarizer=None)
    sft, grpo = get_method("ppopt_sft").version, get_method("ppopt_grpo").version
    with pytest.raises(MethodSkipped, match="no sft checkpoint"):
        sft(ctx)
    _save(tmp_path, "sft", 30)
    first = sft(ctx)
    assert first.startswith("tiny/scratch+sft@30 #") and first == sft(ctx)
    _save(tmp_path, "grpo", 4)
    assert grpo(ctx).startswith("tiny/scratch+sft@30+grpo@4 #")
    shutil.copytree(tmp_path / "sft", tmp_path / "copy" / "sft")  # a copy is the same checkpoint
    assert sft(MethodContext(cfg, tmp_path / "copy", deployed=None, summarizer=None)) == first
    cfg.eval.policy.max_new_tokens = cfg.grpo.sampling.max_new_tokens + 1
    assert sft(ctx) != first
    cfg.eval.policy.max_new_tokens = 0
    grpo_before = grpo(ctx)
    shutil.rmtree(tmp_path / "sft")
    _save(tmp_path, "sft", 30)  # retrained, same step
    assert sft(ctx) != first and grpo(ctx) != grpo_before


def _stage(stage: str, workdir: pathlib.Path) -> None:
    """A training stage as its own process on one CPU device (the tests' 8 fake devices do not divide the
    smoke config's batch of 4)."""
    env = {**os.environ, "PYTHONPATH": str(SMOKE.parents[1]), "XLA_FLAGS": ""}
    subprocess.run([sys.executable, "-m", "personax.cli", stage, "--config", str(SMOKE), "--workdir", str(workdir),
                    "--config.progress=False"], cwd=SMOKE.parents[1], env=env, check=True, capture_output=True)


@pytest.mark.slow
def test_smoke_run_policies_after_sft_and_grpo(smoke_data, tmp_path):
    """The smoke run's SFT and GRPO checkpoints (3-7 minutes on 2 shared cores)."""
    shutil.copytree(smoke_data / "data", tmp_path / "data")
    _stage("sft", tmp_path)
    _stage("grpo", tmp_path)
    cfg = smoke_eval_config(methods=("original", "oracle", "ppopt_zero_shot", "ppopt_sft", "ppopt_grpo"))
    summary = run_eval(cfg, tmp_path)
    assert not summary["skipped"]
    assert all(summary["methods"][m]["n"] == 6 for m in ("ppopt_sft", "ppopt_grpo"))
    versions = {i["method"]: i["version"] for i in map(json.loads, (tmp_path / "report" / "items.jsonl").open())}
    assert versions["ppopt_sft"].startswith("tiny/scratch+sft@30 #")
    assert versions["ppopt_grpo"].startswith("tiny/scratch+sft@30+grpo@4 #")
    report = (tmp_path / "report" / "report.md").read_text()
    assert "| ppopt_grpo |" in report and "| oracle |" in report
    assert list(summary["stage_gains"]) == ["ppopt_zero_shot->ppopt_sft", "ppopt_sft->ppopt_grpo"]
    assert summary["stage_gains"]["ppopt_sft->ppopt_grpo"]["profile"]["n"] == 6  # both stages write a profile
    assert "| ppopt_sft → ppopt_grpo |" in report and "| Δ profile |" in report
