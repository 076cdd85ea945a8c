"""Launchers: --dry-run commands (TPU VM, local, multi-host GPU) and the GKE JobSet manifest against
what they must be; the TPU VM retry path against a fake `gcloud` that preempts the first attempt;
retries and backoff; sweep points and their summary table."""
import json
import os
import pathlib
import shlex
import stat
import subprocess
import sys

import pytest

from launch.cli import main
from launch.config import launch_config
from launch.gke import manifest
from launch.retry import backoff_delays, with_retries
from launch.shell import Shell
from launch.sweep import grid_points, markdown_table, point_config, run_sweep
from personax.configfile import load_config

ROOT = pathlib.Path(__file__).resolve().parents[1]
V5P = str(ROOT / "configs" / "launch" / "qwen3_8b_v5p16.py")
GKE = str(ROOT / "configs" / "launch" / "qwen3_8b_gke.py")
WHERE = ["--zone", "us-east5-a", "--project", "proj"]
TPU = ["gcloud", "compute", "tpus", "tpu-vm"]


def _dry_run(capsys, *argv) -> list[str]:
    assert main([*argv, "--dry-run"]) == 0
    return capsys.readouterr().out.splitlines()


def _commands(lines) -> list[list[str]]:
    return [shlex.split(line[2:]) for line in lines if line.startswith("$ ")]


def _worker_line(argv: list[str]) -> list[str]:
    """The remote shell line of a `gcloud ... ssh --command=LINE`, split into words."""
    (command,) = [a for a in argv if a.startswith("--command=")]
    return shlex.split(command[len("--command="):])


def test_tpu_vm_dry_run_prints_the_gcloud_commands(capsys, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-never-printed")
    lines = _dry_run(capsys, "--config", V5P, "--config.tpu.project=proj", "--config.tpu.gcs_bucket=bkt",
                     "--config.tpu.spot=true", "--config.tpu.delete_when_done=true")
    assert "sk-never-printed" not in "\n".join(lines)
    cmds = _commands(lines)
    name = "personax-qwen3-8b"
    assert cmds[0] == [*TPU, "describe", name, "--format=json", *WHERE]
    assert cmds[1] == [*TPU, "create", name, "--accelerator-type=v5p-16", "--version=v2-alpha-tpuv5", *WHERE, "--spot"]
    assert cmds[2][:4] == ["git", "-C", str(ROOT), "archive"] and cmds[2][-1] == "HEAD"
    assert cmds[3] == [*TPU, "scp", cmds[2][-2], f"{name}:~/personax.tar.gz", "--worker=all", *WHERE]
    assert cmds[4][:7] == [*TPU, "ssh", name, "--worker=all"] and "pip install" in cmds[4][7]
    assert "gcsfuse --implicit-dirs bkt /mnt/personax" in cmds[5][7]
    run = cmds[6]
    assert run[:7] == [*TPU, "ssh", name, "--worker=all"] and run[-4:] == WHERE
    words = _worker_line(run)
    assert words[:3] == ["cd", "$HOME/personax", "&&"]
    assert "PERSONAX_DISTRIBUTED=auto" in words and "OPENAI_API_KEY=<OPENAI_API_KEY>" in words
    assert "JAX_COMPILATION_CACHE_DIR=/mnt/personax/runs/qwen3-8b/jax_cache" in words
    i = words.index("launch.worker")
    assert words[i - 2:] == ["python3", "-m", "launch.worker", "--config", "configs/qwen3_8b_tpu.py", "--workdir",
                             "/mnt/personax/runs/qwen3-8b", "--config.model.name=/mnt/personax/models/Qwen3-8B",
                             "--config.progress=false"]
    assert cmds[7] == [*TPU, "delete", name, "--quiet", *WHERE]
    assert len(cmds) == 8


def test_tpu_vm_v5e_variant_and_missing_project(capsys):
    cmds = _commands(_dry_run(capsys, "--config", V5P + ":v5e16", "--config.tpu.project=proj"))
    assert cmds[1][6:9] == ["--accelerator-type=v5litepod-16", "--version=v2-alpha-tpuv5-lite", "--zone"]
    assert main(["--config", V5P, "--dry-run"]) == 2
    assert "tpu.zone and tpu.project must be set" in capsys.readouterr().err


FAKE_GCLOUD = """#!/bin/sh
# A TPU VM that exists once created, and is preempted during the first worker run.
echo "$*" >> "$FAKE_DIR/calls"
case "$4" in
  describe) [ -f "$FAKE_DIR/state" ] || exit 1; echo "{\\"state\\": \\"$(cat $FAKE_DIR/state)\\"}";;
  create) echo READY > "$FAKE_DIR/state";;
  delete) rm -f "$FAKE_DIR/state";;
  ssh) case "$*" in *launch.worker*)
         if [ ! -f "$FAKE_DIR/ran" ]; then touch "$FAKE_DIR/ran"; echo PREEMPTED > "$FAKE_DIR/state"; exit 255; fi
         echo "worker done";; esac;;
esac
"""


def test_tpu_vm_preempted_slice_is_recreated_and_the_run_retried(tmp_path, capsys, monkeypatch):
    gcloud = tmp_path / "bin" / "gcloud"
    gcloud.parent.mkdir()
    gcloud.write_text(FAKE_GCLOUD)
    gcloud.chmod(gcloud.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{gcloud.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_DIR", str(tmp_path))
    for key in ("OPENROUTER_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.setenv(key, f"sk-{key.lower()}-secret")
    code = main(["--config", V5P, "--config.tpu.project=proj", "--config.tpu.gcs_bucket=bkt",
                 "--config.backoff_s=0", "--config.name=fake-tpu"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "secret" not in out and "worker done" in out
    verbs = [line.split()[3] for line in (tmp_path / "calls").read_text().splitlines()]
    install = ["scp", "ssh", "ssh"]  # code, then the bucket mount
    assert verbs == ["describe", "create", *install, "ssh",  # attempt 1: preempted
                     "describe", "delete", "create", *install, "ssh"]  # attempt 2 on a new slice
    assert "attempt 1 failed (exit 255); retry 1/3" in out and "is PREEMPTED; deleting it" in out


def test_gke_jobset_manifest_fields(capsys):
    lc = load_config(GKE)
    lc.gke.update(dict(image="img:1", gcs_bucket="bkt"))
    m = manifest(lc)
    assert (m["apiVersion"], m["kind"], m["metadata"]["name"]) == ("jobset.x-k8s.io/v1alpha2", "JobSet",
                                                                  "personax-qwen3-8b")
    assert m["spec"]["failurePolicy"]["maxRestarts"] == 3
    (rjob,) = m["spec"]["replicatedJobs"]
    job = rjob["template"]["spec"]
    assert (job["parallelism"], job["completions"], job["completionMode"]) == (2, 2, "Indexed")
    pod = job["template"]["spec"]
    assert pod["nodeSelector"] == {"cloud.google.com/gke-tpu-accelerator": "tpu-v5p-slice",
                                   "cloud.google.com/gke-tpu-topology": "2x2x2"}
    (c,) = pod["containers"]
    assert c["resources"]["limits"] == {"google.com/tpu": 4}
    assert c["command"][:5] == ["python3", "-m", "launch.worker", "--config", "configs/qwen3_8b_tpu.py"]
    env = {e["name"]: e for e in c["env"]}
    assert env["PERSONAX_DISTRIBUTED"]["value"] == "auto"
    assert env["JAX_COMPILATION_CACHE_DIR"]["value"] == "/mnt/personax/runs/qwen3-8b/jax_cache"
    assert env["OPENAI_API_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "personax-keys", "key": "OPENAI_API_KEY"}
    assert pod["volumes"][0]["csi"]["volumeAttributes"]["bucketName"] == "bkt"
    assert c["volumeMounts"] == [{"name": "workdir", "mountPath": "/mnt/personax"}]
    assert pod["serviceAccountName"] == "personax"

    v5e = load_config(GKE + ":v5e16")
    v5e.gke.image = "img:1"
    pod = manifest(v5e)["spec"]["replicatedJobs"][0]["template"]["spec"]
    assert pod["parallelism"] == 4
    assert pod["template"]["spec"]["nodeSelector"]["cloud.google.com/gke-tpu-topology"] == "4x4"

    gpu = load_config(GKE + ":gpu")
    gpu.gke.image = "img:1"
    c = manifest(gpu)["spec"]["replicatedJobs"][0]["template"]["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in c["env"]}
    assert env["PERSONAX_COORDINATOR"]["value"] == "personax-qwen3-8b-workers-0-0.personax-qwen3-8b:1234"
    assert env["PERSONAX_NUM_PROCESSES"]["value"] == "2"
    assert "job-completion-index" in env["PERSONAX_PROCESS_ID"]["valueFrom"]["fieldRef"]["fieldPath"]
    assert c["resources"]["limits"] == {"nvidia.com/gpu": 8}


def test_gke_dry_run_prints_the_manifest_and_kubectl(capsys):
    lines = _dry_run(capsys, "--config", GKE, "--config.gke.image=img:1")
    start = next(i for i, line in enumerate(lines) if line.startswith("# ")) + 1
    end = next(i for i, line in enumerate(lines) if line.startswith("$ "))
    assert json.loads("\n".join(lines[start:end]))["kind"] == "JobSet"
    cmds = _commands(lines)
    assert cmds[0][:3] == ["kubectl", "apply", "-f"] and cmds[0][3].endswith("personax-qwen3-8b.jobset.json")
    assert any(c[:3] == ["kubectl", "logs", "-f"] for c in cmds)
    assert main(["--config", GKE, "--dry-run"]) == 2
    assert "gke.image" in capsys.readouterr().err


def test_local_and_multi_host_gpu_dry_run(capsys):
    lines = _dry_run(capsys, "--config", str(ROOT / "configs" / "launch" / "smoke_local2.py"), "--config.workdir=/w")
    cmds = _commands(lines)
    assert len(cmds) == 2
    for i, argv in enumerate(cmds):
        env = dict(a.split("=", 1) for a in argv if a.startswith(("PERSONAX_", "XLA_", "JAX_")))
        assert env["PERSONAX_PROCESS_ID"] == str(i) and env["PERSONAX_NUM_PROCESSES"] == "2"
        assert env["PERSONAX_COORDINATOR"].startswith("127.0.0.1:")
        assert env["XLA_FLAGS"] == "--xla_force_host_platform_device_count=4" and env["JAX_PLATFORMS"] == "cpu"
        assert argv[argv.index("--workdir") + 1] == "/w" and env["JAX_COMPILATION_CACHE_DIR"] == "/w/jax_cache"

    cmds = _commands(_dry_run(capsys, "--config", str(ROOT / "configs" / "launch" / "smoke_local2.py"),
                              "--config.backend=gpu", "--config.gpu.hosts=('h1','h2')",
                              "--config.gpu.processes_per_host=2", "--config.gpu.gpus_per_host=4"))
    assert [c[c.index("-tt") + 1] for c in cmds] == ["h1", "h1", "h2", "h2"]
    lines = [shlex.split(c[-1]) for c in cmds]
    assert [w for line in lines for w in line if w.startswith("PERSONAX_PROCESS_ID")] == [
        f"PERSONAX_PROCESS_ID={i}" for i in range(4)]
    assert [w for w in lines[1] if w.startswith("CUDA_")] == ["CUDA_VISIBLE_DEVICES=2,3"]
    assert "PERSONAX_COORDINATOR=h1:12355" in lines[3]


def test_retries_back_off_and_stop_at_success():
    assert backoff_delays(4, 30, 2, 100) == [30, 60, 100, 100]
    with pytest.raises(ValueError, match="backoff_factor"):
        backoff_delays(1, 1, 0.5, 10)
    codes, slept = iter([1, 137, 0]), []
    assert with_retries(lambda i: next(codes), [1, 2, 4], log=lambda s: None, sleep=slept.append) == 0
    assert slept == [1, 2]
    assert with_retries(lambda i: 3, [5], log=lambda s: None, sleep=slept.append) == 3


def test_sweep_points_workdirs_and_table():
    points = grid_points((("seed", (0, 1)), ("rewards.weights.profile", (0.3, 0.5)), ("grpo.batch.group_size", [8])))
    assert [name for name, _ in points] == ["seed=0,profile=0.3,group_size=8", "seed=0,profile=0.5,group_size=8",
                                            "seed=1,profile=0.3,group_size=8", "seed=1,profile=0.5,group_size=8"]
    lc = launch_config()
    lc.update(dict(experiment="e.py", workdir="/root/", overrides=("a=1",), backend="gke"))
    point = point_config(lc, 2, *points[2])
    assert point.workdir == "/root/seed=1,profile=0.3,group_size=8" and point.name == "personax-2"
    assert point.compilation_cache_dir == "/root/jax_cache"
    assert point.overrides == ("a=1", "seed=1", "rewards.weights.profile=0.3", "grpo.batch.group_size=8")
    with pytest.raises(ValueError, match="non-empty list"):
        grid_points((("seed", ()),))
    with pytest.raises(ValueError, match="pairs"):
        grid_points(("seed",))
    table = markdown_table([{"point": "seed=0", "loss": 6.25831, "kl": None}])
    assert table.splitlines() == ["| point | loss | kl |", "|---|---|---|", "| seed=0 | 6.258 |  |"]


def test_sweep_runs_every_point_in_its_workdir_and_tables_the_last_metrics(tmp_path, capsys):
    lc = launch_config()
    lc.update(dict(experiment="e.py", workdir=str(tmp_path), overrides=("progress=false",)))
    lc.sweep.update(dict(grid=(("seed", (0, 1)), ("grpo.batch.group_size", (4,))), stage="grpo", metrics=("loss",)))
    seen = []

    def fake_launch(point):  # stands in for a backend: logs two steps whose loss depends on the point
        seen.append((point.workdir, point.overrides))
        seed = int(point.overrides[1].split("=")[1])
        (pathlib.Path(point.workdir) / "grpo").mkdir(parents=True)
        rows = [{"step": s, "loss": 1.0 / (s + seed)} for s in (1, 2)]
        (pathlib.Path(point.workdir) / "grpo" / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        return 3 if seed else 0

    assert run_sweep(lc, fake_launch, Shell()) == 3  # the first failed point's exit code
    assert seen == [(f"{tmp_path}/seed=0,group_size=4", ("progress=false", "seed=0", "grpo.batch.group_size=4")),
                    (f"{tmp_path}/seed=1,group_size=4", ("progress=false", "seed=1", "grpo.batch.group_size=4"))]
    rows = json.loads((tmp_path / "sweep_summary.json").read_text())
    assert rows == [{"point": "seed=0,group_size=4", "seed": 0, "grpo.batch.group_size": 4, "exit": 0, "step": 2,
                     "loss": 0.5},
                    {"point": "seed=1,group_size=4", "seed": 1, "grpo.batch.group_size": 4, "exit": 3, "step": 2,
                     "loss": 1 / 3}]
    assert "| seed=1,group_size=4 | 1 | 4 | 3 | 2 | 0.3333 |" in (tmp_path / "sweep_summary.md").read_text()


@pytest.mark.slow
def test_two_point_sweep_runs_each_point_and_summarises(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    config = str(ROOT / "configs" / "launch" / "smoke_sweep.py")
    out = subprocess.run([sys.executable, "-m", "launch", "--config", config, f"--config.workdir={tmp_path}"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    rows = json.loads((tmp_path / "sweep_summary.json").read_text())
    assert [(r["point"], r["seed"], r["exit"], r["step"]) for r in rows] == [("seed=0", 0, 0, 2), ("seed=1", 1, 0, 2)]
    assert all(5.0 < r["loss"] < 7.0 for r in rows)
    assert rows[0]["loss"] != rows[1]["loss"]  # the seed reached each point
    assert (tmp_path / "seed=1" / "sft" / "checkpoints" / "2").is_dir()
    assert "| seed=0 | 0 | 0 | 2 |" in (tmp_path / "sweep_summary.md").read_text()
