"""`local`: N worker processes on this machine (CPU, or GPUs split between processes), joined over
127.0.0.1; the whole group is retried with backoff when any process fails.

    python -m launch.local --config configs/launch/smoke_local2.py [--dry-run]
"""
from __future__ import annotations

import os
import pathlib
import shlex
import socket
import sys

import ml_collections

from launch.config import common_env, experiment_args
from launch.procs import run_group
from launch.registry import LAUNCHERS
from launch.retry import config_delays, with_retries
from launch.shell import Shell, env_prefix, forwarded_env

ROOT = pathlib.Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def process_env(c: ml_collections.ConfigDict, i: int, port: int) -> dict[str, str]:
    """The variables the launcher sets for process i (on top of this environment)."""
    env = {}
    if c.num_processes > 1:
        env |= {"PERSONAX_COORDINATOR": f"127.0.0.1:{port}", "PERSONAX_NUM_PROCESSES": str(c.num_processes),
                "PERSONAX_PROCESS_ID": str(i)}
    if c.cpu_devices_per_process:
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={c.cpu_devices_per_process}"
    if c.platform:
        env["JAX_PLATFORMS"] = c.platform
    if c.gpus_per_process:
        k = c.gpus_per_process
        env["CUDA_VISIBLE_DEVICES"] = ",".join(str(g) for g in range(i * k, (i + 1) * k))
    return env


def run_local_group(lc: ml_collections.ConfigDict, shell: Shell, c: ml_collections.ConfigDict) -> int:
    """One launch (with its retries) of `c.num_processes` workers; `c` is a `local`-shaped section."""
    if c.num_processes < 1:
        raise ValueError(f"launch config: local.num_processes must be >= 1, got {c.num_processes}")
    argv = [sys.executable, "-m", "launch.worker", *experiment_args(lc)]  # this interpreter: same environment
    secrets = {} if shell.dry_run else forwarded_env(lc.forward_env)  # passed in the environment, never printed

    def attempt(i: int) -> int:
        port = free_port()
        envs = [process_env(c, p, port) | common_env(lc) for p in range(c.num_processes)]
        for env in envs:
            shell.say("$ " + " ".join(filter(None, [env_prefix(env), shlex.join(argv)])))
        if shell.dry_run:
            return 0
        full = [{**os.environ, "PYTHONPATH": _pythonpath(), **secrets, **env} for env in envs]
        return run_group([argv] * c.num_processes, full, out=shell.out, cwd=str(ROOT))

    return with_retries(attempt, config_delays(lc), log=shell.say)


def _pythonpath() -> str:
    return os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH", "")]))


@LAUNCHERS.register("local")
def launch_local(lc: ml_collections.ConfigDict, shell: Shell) -> int:
    return run_local_group(lc, shell, lc.local)


if __name__ == "__main__":
    from launch.cli import main
    sys.exit(main(backend="local"))
