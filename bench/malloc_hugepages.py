"""What backing XLA:CPU's large buffers with transparent huge pages saves, side by side in one run:
the same SFT step (SmolLM2-135M-Instruct + LoRA r 16, f32, one 1024-token row, `loss_positions` 384)
in child processes with and without `GLIBC_TUNABLES=glibc.malloc.hugetlb=1`, alternating.

    .venv/bin/python bench/malloc_hugepages.py [--rounds 2] [--steps 3]

Each step allocates its activations afresh; buffers this large are mmap'ed by glibc and returned
to the kernel when freed, so every step faults every page in again (millions of 4 KiB faults). With
the tunable, glibc asks for huge pages (`madvise`, which the kernel's THP setting must allow) and a
fault brings in 2 MiB. Reports per step: wall seconds, minor page faults, user and system CPU seconds
(medians over the steps after a warm-up, per child). The Makefile exports the tunable. docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import resource
import statistics
import subprocess
import sys
import time

TUNABLE = "glibc.malloc.hugetlb=1"


def child(steps: int) -> None:
    import jax
    import optax

    from personax.train.sft import make_sft_step
    from speed_common import sft_row, smollm2_lora

    graphdef, trainable, rngs, frozen = smollm2_lora()
    batch = sft_row(1024, 256)
    tx = optax.sgd(0.0)  # the step's cost, not its effect
    step, opt = jax.jit(make_sft_step(graphdef, tx, 1, 384)), tx.init(trainable)
    jax.block_until_ready(step(trainable, rngs, frozen, opt, batch))
    rows = []
    for _ in range(steps):
        r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        jax.block_until_ready(step(trainable, rngs, frozen, opt, batch))
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        rows.append({"s": time.perf_counter() - t0, "faults": r1.ru_minflt - r0.ru_minflt,
                     "user_s": r1.ru_utime - r0.ru_utime, "sys_s": r1.ru_stime - r0.ru_stime})
    print(json.dumps({k: statistics.median(r[k] for r in rows) for k in rows[0]}))


def run_child(hugetlb: bool, steps: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"}
    if hugetlb:
        env["GLIBC_TUNABLES"] = TUNABLE
    out = subprocess.run([sys.executable, __file__, "--child", "--steps", str(steps)], env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        return child(a.steps)
    thp = pathlib.Path("/sys/kernel/mm/transparent_hugepage/enabled")
    print(f"THP: {thp.read_text().strip() if thp.exists() else 'n/a'}; {a.rounds} rounds x {a.steps} steps\n")
    results: dict[bool, list[dict]] = {False: [], True: []}
    for _ in range(a.rounds):
        for hugetlb in (False, True):
            results[hugetlb].append(run_child(hugetlb, a.steps))
    print("| malloc | step s | minor faults | user s | sys s |\n|---|---|---|---|---|")
    for hugetlb, rows in results.items():
        med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
        print(f"| {'hugetlb=1' if hugetlb else 'default'} | {med['s']:.2f} | {med['faults']:,.0f} | "
              f"{med['user_s']:.1f} | {med['sys_s']:.1f} |")
    ratio = statistics.median(r["s"] for r in results[True]) / statistics.median(r["s"] for r in results[False])
    print(f"\nstep time, hugetlb / default: {ratio:.2f}")


if __name__ == "__main__":
    main()
