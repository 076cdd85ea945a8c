"""configs/smoke_cpu.py end to end (data -> SFT -> GRPO -> eval), and resumption: `personax sft` killed
mid-run, and `personax grpo` stopped after a checkpoint, each rerun to the same bits as an
uninterrupted run."""
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import orbax.checkpoint as ocp
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
ARGS = ["--config", str(ROOT / "configs" / "smoke_cpu.py"), "--config.sft.steps=8",
        "--config.sft.checkpoint_every=3", "--config.progress=false"]


def _stage(stage, workdir, *extra):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "XLA_FLAGS": ""}
    return subprocess.Popen([sys.executable, "-m", "personax.cli", stage, "--workdir", str(workdir), *ARGS, *extra],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _sft(workdir):
    return _stage("sft", workdir)


def _final_params(workdir, stage="sft", step=8):
    path = pathlib.Path(workdir) / stage / "checkpoints" / str(step) / "params"
    return ocp.PyTreeCheckpointer().restore(str(path))


def _metrics(workdir, stage="sft"):
    lines = (pathlib.Path(workdir) / stage / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def _assert_same_tree(a, b):
    a, b = dict(_flatten(a)), dict(_flatten(b))
    assert a.keys() == b.keys() and a
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("straight")
    out, _ = _sft(workdir).communicate(timeout=600)
    assert b"sft: step=8" in out, out.decode()[-2000:]
    return workdir


def test_killed_sft_resumes_to_the_same_weights(uninterrupted, tmp_path):
    proc = _sft(tmp_path)
    metrics = tmp_path / "sft" / "metrics.jsonl"
    deadline = time.time() + 600
    # Kill after step 5: past the step-3 checkpoint, before the step-6 one.
    while time.time() < deadline and proc.poll() is None:
        if metrics.exists() and len(metrics.read_text().splitlines()) >= 5:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.05)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    out, _ = _sft(tmp_path).communicate(timeout=600)
    assert b"sft: step=8" in out, out.decode()[-2000:]
    _assert_same_tree(_final_params(tmp_path), _final_params(uninterrupted))
    steps = [m["step"] for m in _metrics(tmp_path)]
    assert steps == list(range(1, 9))  # no duplicated or missing steps in the log
    assert [m["loss"] for m in _metrics(tmp_path)] == [m["loss"] for m in _metrics(uninterrupted)]


def _flatten(tree, prefix=""):
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield from _flatten(v, f"{prefix}/{k}")
    else:
        yield prefix, np.asarray(tree)


GRPO = ["--config.grpo.checkpoint_every=1"]


def _copy_sft_result(workdir, to):
    for part in ("data", "sft"):
        shutil.copytree(workdir / part, to / part)
    shutil.copy(workdir / "tokenizer.model", to / "tokenizer.model")


@pytest.fixture(scope="module")
def grpo_done(uninterrupted):
    out, _ = _stage("grpo", uninterrupted, "--config.grpo.steps=2", *GRPO).communicate(timeout=600)
    return uninterrupted, out


def test_grpo_runs_after_sft_and_logs_every_component(grpo_done):
    straight, out = grpo_done
    assert b"grpo: step=2" in out and b"started_from_sft=True" in out, out.decode()[-3000:]
    logged = _metrics(straight, "grpo")
    assert [m["step"] for m in logged] == [1, 2]
    for key in ["reward/total/mean", "reward/profile/mean", "reward/task_pairwise/mean", "kl_mean",
                "clip_frac_low", "advantage_std", "response_length", "fallback_rate", "logprob_gap_sampler_trainer",
                "rollout_s", "reward_s", "update_s", "weight_drift"]:
        assert key in logged[-1], key
    assert all(m["weight_drift"] > 0 for m in logged)  # full fine-tuning: ‖θ − θ_SFT‖ after each update
    assert logged[-1]["logprob_gap_sampler_trainer"] < 1e-3


def test_eval_reports_every_method_after_the_run(grpo_done):
    workdir, _ = grpo_done
    out, _ = _stage("eval", workdir).communicate(timeout=900)
    report = workdir / "report" / "report.md"
    assert report.exists(), out.decode()[-3000:]
    text = report.read_text()
    for method in ["original", "full_history", "oracle", "ppopt_zero_shot", "ppopt_sft", "ppopt_grpo"]:
        assert method in text, method
    assert "sim world only" in text
    assert (workdir / "report" / "items.jsonl").exists()
    assert any(p.suffix == ".png" for p in (workdir / "report").iterdir())


@pytest.mark.slow
def test_grpo_resumes_to_the_same_weights(grpo_done, tmp_path):
    straight, _ = grpo_done
    # A second workdir with the same SFT result: stop after step 1, then continue to step 2.
    _copy_sft_result(straight, tmp_path)
    for steps in (1, 2):
        out, _ = _stage("grpo", tmp_path, f"--config.grpo.steps={steps}", *GRPO).communicate(timeout=600)
        assert f"grpo: step={steps}".encode() in out, out.decode()[-3000:]
    _assert_same_tree(_final_params(tmp_path, "grpo", 2), _final_params(straight, "grpo", 2))
    assert _metrics(tmp_path, "grpo") == [{**m, **{k: m2[k] for k in m if k.endswith("_s") or "per_s" in k}}
                                          for m, m2 in zip(_metrics(straight, "grpo"), _metrics(tmp_path, "grpo"))]


def test_grpo_seed_alone_draws_a_replicate_from_the_same_sft(grpo_done, tmp_path):
    straight, _ = grpo_done
    _copy_sft_result(straight, tmp_path)
    out, _ = _stage("grpo", tmp_path, "--config.grpo.steps=1", "--config.grpo.seed=1", *GRPO).communicate(timeout=600)
    assert b"grpo: step=1" in out and b"started_from_sft=True" in out, out.decode()[-3000:]  # data stage accepted it
    mine, theirs = _final_params(tmp_path, "grpo", 1), _final_params(straight, "grpo", 1)
    theirs = dict(_flatten(theirs))  # the same seed gives the same bits (the resume test above)
    assert any(not np.array_equal(a, theirs[k]) for k, a in _flatten(mine))


def test_sampler_log_probs_as_old_policy_give_the_trainer_pass_update(grpo_done, tmp_path):
    """smoke_cpu makes 2 updates a step (8 completions, mini-batches of 4), so π_old is a stored pass; the
    sampler's own log-probs (no extra forward) must move the weights as the trainer's pass does."""
    straight, _ = grpo_done
    _copy_sft_result(straight, tmp_path)
    out, _ = _stage("grpo", tmp_path, "--config.grpo.steps=1", "--config.grpo.old_logp=sampler",
                    *GRPO).communicate(timeout=600)
    assert b"grpo: step=1" in out, out.decode()[-3000:]
    sft, trainer = dict(_flatten(_final_params(straight, "sft", 8))), dict(_flatten(_final_params(straight, "grpo", 1)))
    sampler = dict(_flatten(_final_params(tmp_path, "grpo", 1)))
    moved = sum(float(np.abs(trainer[k] - sft[k]).sum()) for k in sft)
    apart = sum(float(np.abs(sampler[k] - trainer[k]).sum()) for k in sft)
    assert moved > 0 and apart < 0.01 * moved, (apart, moved)
    assert "logprob_gap_sampler_trainer" not in _metrics(tmp_path, "grpo")[0]  # two updates: no on-policy gap


def test_segment_credit_changes_the_update_exactly_where_a_reasoning_closes(grpo_done, tmp_path):
    """Step 1 again with `advantage.credit=segments`: the same rollouts and rewards (same seed), so the
    weights differ from the sequence-credit step iff some rollout wrote a PROMPT after its `</REASONING>`."""
    straight, _ = grpo_done
    _copy_sft_result(straight, tmp_path)
    out, _ = _stage("grpo", tmp_path, "--config.grpo.steps=1", "--config.grpo.advantage.credit=segments",
                    *GRPO).communicate(timeout=600)
    assert b"grpo: step=1" in out, out.decode()[-3000:]
    m, before = _metrics(tmp_path, "grpo")[0], _metrics(straight, "grpo")[0]
    assert m["reward/total/mean"] == before["reward/total/mean"] and m["advantage_std"] == before["advantage_std"]
    split = m["after_reasoning/split_frac"]
    assert 0.0 <= split <= 1.0 and "after_reasoning/advantage_std" in m
    mine, theirs = dict(_flatten(_final_params(tmp_path, "grpo", 1))), dict(_flatten(_final_params(straight, "grpo", 1)))
    assert any(not np.array_equal(a, theirs[k]) for k, a in mine.items()) == (split > 0), split
    out, _ = _stage("grpo", tmp_path / "bad", "--config.grpo.advantage.credit=tokens").communicate(timeout=600)
    assert b"grpo.advantage.credit='tokens': must be one of" in out, out.decode()[-3000:]


def test_truncated_rollouts_are_dropped_or_penalized_when_asked(grpo_done, tmp_path):
    straight, _ = grpo_done
    kept = _metrics(straight, "grpo")[0]
    assert kept["valid_rollout_frac"] == 1.0 and "truncated_dropped_frac" not in kept  # the default keeps them
    for mode in ("drop", "penalize"):
        _copy_sft_result(straight, tmp_path / mode)
        out, _ = _stage("grpo", tmp_path / mode, "--config.grpo.steps=1", f"--config.grpo.filter.truncated={mode}",
                        *GRPO).communicate(timeout=600)
        assert b"grpo: step=1" in out, out.decode()[-3000:]
        m = _metrics(tmp_path / mode, "grpo")[0]
        assert m["rollout_failure_rate"] == 0  # sim rewards: every cut rollout is handled for its cut alone
        key = "truncated_dropped_frac" if mode == "drop" else "truncated_penalized_frac"
        assert m[key] == pytest.approx(1.0 - m["stopped_frac"])
        assert m["valid_rollout_frac"] <= (m["stopped_frac"] if mode == "drop" else 1.0)
    out, _ = _stage("grpo", tmp_path / "bad", "--config.grpo.filter.truncated=cut").communicate(timeout=600)
    assert b"grpo.filter.truncated='cut': must be one of" in out, out.decode()[-3000:]
