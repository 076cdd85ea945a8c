"""A group of worker processes on this machine: started together, their output streamed with a
`[pN]` prefix, and stopped together as soon as one fails (the others would wait forever in a
collective for the dead one)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from typing import Sequence, TextIO


def _stream(proc: subprocess.Popen, prefix: str, out: TextIO, lock: threading.Lock) -> None:
    for line in iter(proc.stdout.readline, ""):
        with lock:
            out.write(f"{prefix}{line}")
            out.flush()


def stop(procs: Sequence[subprocess.Popen], grace_s: float = 10.0) -> None:
    """SIGTERM to every live process's group, SIGKILL to those still alive after `grace_s`."""
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    deadline = time.time() + grace_s
    for p in procs:
        try:
            p.wait(timeout=max(deadline - time.time(), 0.1))
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def run_group(commands: Sequence[Sequence[str]], envs: Sequence[dict[str, str] | None], out: TextIO | None = None,
              cwd: str | None = None, poll_s: float = 0.2) -> int:
    """Starts one process per command; returns 0 when all exit 0, else the first failure's code."""
    out = out or sys.stdout
    lock = threading.Lock()
    procs, threads = [], []
    try:
        for i, (argv, env) in enumerate(zip(commands, envs)):
            p = subprocess.Popen(list(argv), env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True, start_new_session=True)
            procs.append(p)
            with lock:
                out.write(f"launch: process {i} started, pid {p.pid}\n")
                out.flush()
            t = threading.Thread(target=_stream, args=(p, f"[p{i}] ", out, lock), daemon=True)
            t.start()
            threads.append(t)
        while True:
            codes = [p.poll() for p in procs]
            failed = [c for c in codes if c not in (None, 0)]
            if failed:
                stop(procs)
                return failed[0] if failed[0] > 0 else 128 - failed[0]  # killed by signal n -> 128 + n
            if all(c == 0 for c in codes):
                return 0
            time.sleep(poll_s)
    finally:
        stop(procs)
        for t in threads:
            t.join(timeout=5)
