"""What the test command's compilation cache and workers save, side by side in one run: the same test
files run serially without a persistent compilation cache (the suite before both), serially with the
session cache (tests/conftest.py), and with the cache on TEST_WORKERS xdist workers (`make test`: its
options are read from the Makefile's PYTEST line).

    .venv/bin/python bench/test_suite_time.py [--workers 2] [--order A,B,C] [FILE ...]

With no FILE, the default suite's heaviest files (the end-to-end training, resume, pod-config and
multi-host tests: about half of its time). Each variant is one pytest process over the same files and
the `-m "not slow"` selection; wall time and pass count per variant, and each variant's time over the
first's. A run is minutes to tens of minutes: give it a quiet box. docs/benchmarks.md, "Test suite time".
"""
from __future__ import annotations

import argparse
import os
import pathlib
import re
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
HEAVY = ["tests/test_train_resume.py", "tests/test_pod_configs.py", "tests/test_train_stages.py",
         "tests/test_multihost.py", "tests/test_reward_model.py"]


def make_test_args(workers: int) -> list[str]:
    """The pytest options of the Makefile's PYTEST line (what `make test` runs), at `workers` workers."""
    line = next((ln for ln in (ROOT / "Makefile").read_text().splitlines() if ln.startswith("PYTEST =")), None)
    if line is None or " pytest " not in line:
        raise SystemExit("Makefile: no `PYTEST = ... pytest ...` line to take the test command's options from")
    args = line.split(" pytest ", 1)[1].replace("$(TEST_WORKERS)", str(workers)).split()
    return [a for a in args if a != "-q"]


def variants(workers: int) -> dict[str, tuple[list[str], dict[str, str]]]:
    """name -> (extra pytest args, environment overrides)."""
    no_cache = {"JAX_COMPILATION_CACHE_DIR": ""}  # set but empty: conftest leaves it, jax builds no cache
    return {"serial_no_cache": (["-p", "no:xdist"], no_cache),
            "serial_cache": (["-p", "no:xdist"], {}),
            f"{workers}_workers_cache": (make_test_args(workers), {})}


def run(files: list[str], args: list[str], env_over: dict[str, str]) -> tuple[float, str]:
    caching = ("JAX_COMPILATION_CACHE_DIR", "JAX_PERSISTENT_CACHE")  # the variant sets these, not the caller
    env = {k: v for k, v in os.environ.items() if not k.startswith(caching)} | env_over
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "not slow", *args, *files], cwd=ROOT,
                          env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    tail = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-500:]
    if done.returncode != 0:
        raise SystemExit(f"pytest {' '.join(args)} failed ({done.returncode}): {tail}")
    return wall, re.sub(r" in [\d.]+s.*", "", tail)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="*", default=HEAVY)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--order", default="", help="comma-separated variant names (default: all, as listed)")
    a = ap.parse_args()
    table = variants(a.workers)
    names = a.order.split(",") if a.order else list(table)
    unknown = [n for n in names if n not in table]
    if unknown:
        raise SystemExit(f"--order: unknown variants {unknown}; known: {list(table)}")
    print(f"files: {' '.join(a.files)}")
    first = None
    for name in names:
        wall, summary = run(a.files, *table[name])
        first = first or wall
        print(f"{name:>18}: {wall:7.1f} s  ({wall / first:.2f} of {names[0]})  {summary}", flush=True)


if __name__ == "__main__":
    main()
