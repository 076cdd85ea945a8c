"""The multi-host code path for real: two local processes, 4 fake CPU devices each, joined over
127.0.0.1 into one 8-device mesh, run configs/smoke_cpu.py's SFT and sharded GRPO steps through
the local launcher. One worker is SIGKILLed after the first GRPO checkpoint; the launcher's retry
restarts both and they resume from it. Rerunning with more steps resumes again. Two bare processes
check that hosts holding rows of different lengths cut an SFT batch to the same length bucket."""
import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import threading
import time

import orbax.checkpoint as ocp
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / "configs" / "launch" / "smoke_local2.py")


def _launch(workdir, *extra) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "launch", "--config", CONFIG, f"--config.workdir={workdir}",
                             "--config.backoff_s=1", *extra], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _collect(proc: subprocess.Popen, lines: list[str]) -> threading.Thread:
    t = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)
    t.start()
    return t


def _metrics(workdir, stage):
    return [json.loads(line) for line in (workdir / stage / "metrics.jsonl").read_text().splitlines()]


def _finish(proc: subprocess.Popen, lines: list[str], reader: threading.Thread) -> str:
    proc.wait(timeout=600)
    reader.join(timeout=10)
    return "".join(lines)


@pytest.fixture(scope="module")
def killed_and_retried(tmp_path_factory):
    """A two-process run whose worker 1 is SIGKILLed once GRPO's first checkpoint is written."""
    workdir = tmp_path_factory.mktemp("two_hosts")
    proc, lines = _launch(workdir), []
    reader = _collect(proc, lines)
    first_ckpt = workdir / "grpo" / "checkpoints" / "1" / "commit_success.txt"
    deadline, killed = time.time() + 600, False
    while time.time() < deadline and proc.poll() is None and not killed:
        if first_ckpt.exists():
            started = (re.match(r"launch: process 1 started, pid (\d+)", line) for line in lines)
            pid = int(next(m for m in started if m).group(1))
            os.kill(pid, signal.SIGKILL)
            killed = True
        time.sleep(0.1)
    out = _finish(proc, lines, reader)
    assert killed, "the run ended before its first GRPO checkpoint could be interrupted:\n" + out[-4000:]
    assert proc.returncode == 0, out[-4000:]
    return workdir, out


def test_two_processes_train_and_a_killed_worker_is_retried_from_the_checkpoint(killed_and_retried):
    workdir, out = killed_and_retried
    assert "[p0] worker: process 0 of 2, 4 local / 8 devices" in out and "[p1] worker: process 1 of 2" in out
    assert "launch: attempt 1 failed (exit 137); retry 1/1" in out
    retry = out[out.index("attempt 1 failed"):]
    assert "[p0] worker: grpo resumes from checkpoint step 1" in retry and "[p1] worker: grpo resumes" in retry
    assert "[p0] grpo: loss=" in retry and "[p1] grpo: loss=" in retry

    # Process 0 alone logs (one line per step, none lost or repeated across the kill).
    assert [m["step"] for m in _metrics(workdir, "sft")] == [1, 2]
    grpo = _metrics(workdir, "grpo")
    assert [m["step"] for m in grpo] == [1, 2]
    for m in grpo:
        assert m["logprob_gap_sampler_trainer"] < 1e-3 and m["reward/total/nan"] == 0
        assert 0 <= m["reward/profile/mean"] <= 1 and m["tokens"] > 0
    # SFT: each process reads its own shard, and its data position is kept with the checkpoint.
    data = json.loads((workdir / "sft" / "checkpoints" / "2" / "data" / "metadata").read_text())
    assert len(data["per_process"]) == 2


@pytest.mark.slow
def test_rerun_with_more_steps_resumes_from_the_last_checkpoint(killed_and_retried):
    workdir, _ = killed_and_retried
    more, lines = _launch(workdir, _overrides(grpo__steps=3)), []
    out = _finish(more, lines, _collect(more, lines))
    assert more.returncode == 0 and "[p0] worker: grpo resumes from checkpoint step 2" in out, out[-4000:]
    grpo = _metrics(workdir, "grpo")
    assert [m["step"] for m in grpo] == [1, 2, 3]
    assert min(m["zero_variance_group_frac"] for m in grpo) < 1, "no group had a reward spread: nothing to learn"
    before, after = (_restore(workdir / "grpo" / "checkpoints" / str(step) / "params")["trainable"] for step in (2, 3))
    assert any((a != b).any() for a, b in zip(_leaves(before), _leaves(after)))


@pytest.mark.slow
def test_two_processes_match_one_process_with_the_same_eight_devices(killed_and_retried, tmp_path):
    """Same SFT result, same GRPO steps: one process driving 8 devices takes the same global batches,
    samples the same rollouts and reaches the same weights (up to float summation order) as the
    two-process run, killed and resumed on the way."""
    import shutil

    import numpy as np

    two, _ = killed_and_retried
    for name in ("data", "sft", "tokenizer.model"):
        (shutil.copytree if (two / name).is_dir() else shutil.copy)(two / name, tmp_path / name)
    # GRPO only: the SFT checkpoint holds two processes' data positions, which one process refuses.
    one = _launch(tmp_path, "--config.local.num_processes=1", "--config.local.cpu_devices_per_process=8",
                  _overrides(stages="grpo"))
    lines = []
    out = _finish(one, lines, _collect(one, lines))
    assert one.returncode == 0 and "worker: process 0 of 1, 8 local / 8 devices" in out, out[-4000:]
    for a, b in zip(_metrics(two, "grpo")[:2], _metrics(tmp_path, "grpo")):
        assert a["step"] == b["step"]
        for key in ("reward/total/mean", "reward/profile/mean", "response_length", "tokens"):
            assert a[key] == b[key], key
        for key in ("loss", "kl_mean", "logprob_gap_sampler_trainer"):
            np.testing.assert_allclose(a[key], b[key], rtol=1e-3, atol=1e-7, err_msg=key)
    restored = [_restore(w / "grpo" / "checkpoints" / "2" / "params")["trainable"] for w in (two, tmp_path)]
    # Adam turns float-noise gradient differences on near-zero entries into differences of a few
    # 1e-6; one update moves a weight by up to lr = 1e-3.
    for a, b in zip(*(_leaves(r) for r in restored)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=2e-5)


def _restore(path: pathlib.Path):
    """A checkpoint written by two processes, read onto this process's first device."""
    import jax
    from jax.sharding import SingleDeviceSharding

    checkpointer = ocp.PyTreeCheckpointer()
    device = SingleDeviceSharding(jax.devices()[0])
    tree = checkpointer.metadata(str(path)).item_metadata.tree
    targets = jax.tree.map(lambda _: ocp.ArrayRestoreArgs(sharding=device), tree)
    return checkpointer.restore(str(path), restore_args=targets)


def _overrides(**fields) -> str:
    """--config.overrides=... : the launch config's experiment overrides with `fields` replaced."""
    from personax.configfile import load_config
    lc = load_config(CONFIG)
    new = {name: value for name, _, value in (o.partition("=") for o in lc.overrides)}
    new |= {name.replace("__", "."): value for name, value in fields.items()}
    return "--config.overrides=" + repr(tuple(f"{k}={v}" for k, v in new.items()))


def _leaves(tree):
    if isinstance(tree, dict):
        for v in tree.values():
            yield from _leaves(v)
    else:
        yield tree


def test_single_process_helpers_keep_shapes_formats_and_refuse_a_host_count_change():
    import jax
    import numpy as np
    from jax.sharding import PartitionSpec as P

    from personax.sharding import (MeshConfig, gather_json, gather_rows, host_rows, host_state_for_checkpoint,
                                   host_state_from_checkpoint, make_mesh, put_global, to_numpy)

    mesh = make_mesh(MeshConfig(data=4, fsdp=2))
    rows8, rows2 = np.arange(40).reshape(8, 5), np.arange(10).reshape(2, 5)
    split, small = put_global(mesh, (rows8, rows2))
    assert split.sharding.spec == P(("data", "fsdp"), None)  # 8 rows over data x fsdp = 8 devices
    assert small.sharding.spec == P(None, None)  # 2 rows do not split: replicated
    micro = put_global(mesh, np.zeros((3, 8, 4)), batch_axis=1)
    assert micro.sharding.spec == P(None, ("data", "fsdp"), None)
    np.testing.assert_array_equal(to_numpy(split), rows8)
    np.testing.assert_array_equal(gather_rows({"a": rows2})["a"], rows2)
    assert host_rows(8) == slice(0, 8) and gather_json({"k": [1, 2]}) == [{"k": [1, 2]}]
    assert jax.process_count() == 1

    state = {"next_index": 3}
    assert host_state_for_checkpoint(state) == state  # one process: the format single-host runs always had
    assert host_state_from_checkpoint(state, "ckpt") == state
    assert host_state_from_checkpoint({"per_process": [state]}, "ckpt") == state
    with pytest.raises(ValueError, match="data positions of 2 processes, this run has 1"):
        host_state_from_checkpoint({"per_process": [state, state]}, "ckpt")


_BUCKET_WORKER = """
import numpy as np
from personax.sharding import initialize_distributed
initialize_distributed()
import jax
from personax.train.sft_run import cut_to_bucket
used = {0: 100, 1: 300}[jax.process_index()]  # the hosts' own rows end at different columns
segment_ids = np.zeros((2, 512), np.int32)
segment_ids[0, :used] = 1
batch = cut_to_bucket({"segment_ids": segment_ids, "tokens": segment_ids.copy()}, (128, 256, 384, 512))
print("width", {k: v.shape[1] for k, v in batch.items()})
"""


def test_hosts_cut_sft_rows_to_the_bucket_of_the_longest_host():
    """Each host's rows alone would fit 128 and 384 columns; both cut to 384, the widest host's bucket,
    so the global batch they assemble has one shape."""
    from launch.local import free_port

    port = free_port()
    procs = [subprocess.Popen([sys.executable, "-c", _BUCKET_WORKER], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu",
                                   "PERSONAX_COORDINATOR": f"127.0.0.1:{port}", "PERSONAX_NUM_PROCESSES": "2",
                                   "PERSONAX_PROCESS_ID": str(i)}) for i in range(2)]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    for p, out in zip(procs, outs):
        assert p.returncode == 0, out[-3000:]
        assert "width {'segment_ids': 384, 'tokens': 384}" in out, out[-3000:]
