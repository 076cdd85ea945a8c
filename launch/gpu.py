"""`gpu`: multi-GPU on one host (worker processes on this machine) or on several hosts over ssh,
the first host running the coordinator; the group is retried with backoff when any worker fails.

    python -m launch.gpu --config configs/launch/X.py [--dry-run]
"""
from __future__ import annotations

import shlex
import sys

import ml_collections

from launch.config import common_env, experiment_args
from launch.local import run_local_group
from launch.procs import run_group
from launch.registry import LAUNCHERS
from launch.retry import config_delays, with_retries
from launch.shell import Shell, worker_command

LOCAL_HOSTS = ("localhost", "127.0.0.1")


def ssh_commands(lc: ml_collections.ConfigDict, secrets: dict[str, str]) -> list[list[str]]:
    """One ssh command per worker process: host h's process j is process h * processes_per_host + j."""
    c = lc.gpu
    k, n = c.gpus_per_host // c.processes_per_host, len(c.hosts) * c.processes_per_host
    commands = []
    for h, host in enumerate(c.hosts):
        for j in range(c.processes_per_host):
            env = {"PERSONAX_COORDINATOR": f"{c.hosts[0]}:{c.port}", "PERSONAX_NUM_PROCESSES": str(n),
                   "PERSONAX_PROCESS_ID": str(h * c.processes_per_host + j)}
            if c.processes_per_host > 1:
                env["CUDA_VISIBLE_DEVICES"] = ",".join(str(g) for g in range(j * k, (j + 1) * k))
            line = worker_command(lc.python, experiment_args(lc), {**env, **common_env(lc), **secrets}, cd=c.remote_dir)
            commands.append([*c.ssh.split(), "-o", "BatchMode=yes", "-tt", host, line])
    return commands


@LAUNCHERS.register("gpu")
def launch_gpu(lc: ml_collections.ConfigDict, shell: Shell) -> int:
    c = lc.gpu
    if c.processes_per_host < 1 or c.gpus_per_host % c.processes_per_host:
        raise ValueError(f"launch config: gpu.gpus_per_host={c.gpus_per_host} must split over "
                         f"gpu.processes_per_host={c.processes_per_host} processes")
    if len(c.hosts) == 1 and c.hosts[0] in LOCAL_HOSTS:
        split = c.gpus_per_host // c.processes_per_host if c.processes_per_host > 1 else 0
        return run_local_group(lc, shell, ml_collections.ConfigDict(dict(
            num_processes=c.processes_per_host, cpu_devices_per_process=0, platform="cuda", gpus_per_process=split)))
    secrets = shell.secret_env(lc.forward_env)
    commands = ssh_commands(lc, secrets)

    def attempt(i: int) -> int:
        for argv in commands:
            shell.say("$ " + shlex.join(argv))
        return 0 if shell.dry_run else run_group(commands, [None] * len(commands), out=shell.out)

    return with_retries(attempt, config_delays(lc), log=shell.say)


if __name__ == "__main__":
    from launch.cli import main
    sys.exit(main(backend="gpu"))
