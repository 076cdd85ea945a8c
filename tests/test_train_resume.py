"""`personax sft` killed mid-run and rerun ends bit-identical to an uninterrupted run."""
import json
import os
import pathlib
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


def _sft(workdir, **kw):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "XLA_FLAGS": ""}
    return subprocess.Popen([sys.executable, "-m", "personax.cli", "sft", "--workdir", str(workdir), *ARGS],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kw)


def _final_params(workdir):
    path = pathlib.Path(workdir) / "sft" / "checkpoints" / "8" / "params"
    return ocp.PyTreeCheckpointer().restore(str(path))


def _metrics(workdir):
    lines = (pathlib.Path(workdir) / "sft" / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


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
    ours, ref = _final_params(tmp_path), _final_params(uninterrupted)
    flat = lambda t: {k: v for k, v in _flatten(t)}
    a, b = flat(ours), flat(ref)
    assert a.keys() == b.keys() and a
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    steps = [m["step"] for m in _metrics(tmp_path)]
    assert steps == list(range(1, 9))  # no duplicated or missing steps in the log
    assert [m["loss"] for m in _metrics(tmp_path)] == [m["loss"] for m in _metrics(uninterrupted)]


def _flatten(tree, prefix=""):
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield from _flatten(v, f"{prefix}/{k}")
    else:
        yield prefix, np.asarray(tree)
