"""`tpu_vm`: a TPU VM pod slice through `gcloud compute tpus tpu-vm`: create it (or reuse one of the
same name), put the code on every worker (this checkout's HEAD, or a pip install), mount the GCS
bucket holding the workdir, run the same worker command on all workers with their logs streamed,
and delete the slice when asked. A failed attempt (a preempted spot slice, a crashed worker) is
retried with backoff: a slice that is no longer READY is deleted and created again, and the workers
resume from the last checkpoint in the shared workdir.

    python -m launch.tpu --config configs/launch/qwen3_8b_v5p16.py [--dry-run]
"""
from __future__ import annotations

import json
import pathlib
import sys
import tempfile

import ml_collections

from launch.accelerators import tpu
from launch.config import common_env, experiment_args
from launch.registry import LAUNCHERS
from launch.retry import config_delays, with_retries
from launch.shell import Shell, worker_command

ROOT = pathlib.Path(__file__).resolve().parents[1]
TARBALL = "personax.tar.gz"


class TpuVm:
    """The gcloud command lines for one named TPU VM."""

    def __init__(self, lc: ml_collections.ConfigDict):
        c = lc.tpu
        if not c.zone or not c.project:
            raise ValueError("launch config: tpu.zone and tpu.project must be set for the tpu_vm backend")
        self.lc, self.c, self.shape = lc, c, tpu(c.accelerator)
        self.where = ["--zone", c.zone, "--project", c.project]

    def gcloud(self, verb: str, *args: str) -> list[str]:
        return ["gcloud", "compute", "tpus", "tpu-vm", verb, *args, *self.where]

    def describe(self) -> list[str]:
        return self.gcloud("describe", self.lc.name, "--format=json")

    def create(self) -> list[str]:
        version = self.c.runtime_version or self.shape.runtime_version
        argv = self.gcloud("create", self.lc.name, f"--accelerator-type={self.shape.gcloud_type}",
                           f"--version={version}")
        return argv + (["--spot"] if self.c.spot else [])

    def delete(self) -> list[str]:
        return self.gcloud("delete", self.lc.name, "--quiet")

    def ssh_all(self, command: str) -> list[str]:
        return self.gcloud("ssh", self.lc.name, "--worker=all", f"--command={command}")

    def scp_all(self, local: str, remote: str) -> list[str]:
        return self.gcloud("scp", local, f"{self.lc.name}:{remote}", "--worker=all")


def install_commands(vm: TpuVm, tarball: str) -> list[list[str]]:
    """Code on every worker: the checkout's HEAD (git archive, copied) or a pip spec; then the bucket."""
    c = vm.c
    if c.code == "copy":
        steps = [["git", "-C", str(ROOT), "archive", "--format=tar.gz", "-o", tarball, "HEAD"],
                 vm.scp_all(tarball, f"~/{TARBALL}"),
                 vm.ssh_all(f'mkdir -p "{c.remote_dir}" && tar -xzf ~/{TARBALL} -C "{c.remote_dir}" && '
                            f'pip install -q -e "{c.remote_dir}[tpu]"')]
    elif c.code == "pip":
        if not c.pip_spec:
            raise ValueError("launch config: tpu.code='pip' needs tpu.pip_spec (e.g. 'personax[tpu]==0.1')")
        steps = [vm.ssh_all(f"pip install -q '{c.pip_spec}'")]
    else:
        raise ValueError(f"launch config: tpu.code must be 'copy' or 'pip', got {c.code!r}")
    if c.gcs_bucket:
        steps.append(vm.ssh_all(f"sudo mkdir -p {c.mount} && sudo chown $USER {c.mount} && "
                                f"(mountpoint -q {c.mount} || gcsfuse --implicit-dirs {c.gcs_bucket} {c.mount})"))
    return steps


def run_command(vm: TpuVm, secrets: dict[str, str]) -> list[str]:
    """Every worker runs the same line; JAX finds its peers from the TPU VM metadata."""
    env = {"PERSONAX_DISTRIBUTED": "auto", **common_env(vm.lc), **secrets}
    cd = vm.c.remote_dir if vm.c.code == "copy" else None
    return vm.ssh_all(worker_command(vm.lc.python, experiment_args(vm.lc), env, cd=cd))


def _state(shell: Shell, vm: TpuVm) -> str | None:
    """The slice's state (READY, PREEMPTED, ...), None when it does not exist (dry run: assumed absent)."""
    result = shell.run(vm.describe(), capture=True)
    if result is None or result.returncode != 0:
        return None
    return json.loads(result.stdout or "{}").get("state", "UNKNOWN")


@LAUNCHERS.register("tpu_vm")
def launch_tpu_vm(lc: ml_collections.ConfigDict, shell: Shell) -> int:
    vm = TpuVm(lc)
    if vm.shape.hosts > 1 and not vm.c.gcs_bucket:
        shell.say(f"launch: warning: {vm.shape.hosts} hosts share nothing unless {lc.workdir} is shared storage "
                  "(NFS); set tpu.gcs_bucket to mount a bucket there")
    secrets = shell.secret_env(lc.forward_env)
    tarball = str(pathlib.Path(tempfile.gettempdir()) / f"{lc.name}.tar.gz")

    def ensure_slice(fresh_code: bool) -> int:
        state = _state(shell, vm)
        if state is not None and (state != "READY" or not vm.c.reuse):
            shell.say(f"launch: TPU VM {lc.name} is {state}; deleting it to create it again")
            shell.run(vm.delete())
            state = None
        if state is None:
            created = shell.run(vm.create())
            if created is not None and created.returncode:
                return created.returncode
            fresh_code = True
        for argv in install_commands(vm, tarball) if fresh_code else ():
            done = shell.run(argv)
            if done is not None and done.returncode:
                return done.returncode
        return 0

    def attempt(i: int) -> int:
        code = ensure_slice(fresh_code=i == 0)
        if code:
            return code
        result = shell.run(run_command(vm, secrets))
        return 0 if result is None else result.returncode

    code = with_retries(attempt, config_delays(lc), log=shell.say)
    if vm.c.delete_when_done:
        shell.run(vm.delete())
    return code


if __name__ == "__main__":
    from launch.cli import main
    sys.exit(main(backend="tpu_vm"))
