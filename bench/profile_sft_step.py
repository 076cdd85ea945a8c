"""Where one SFT step's time goes on XLA:CPU: the default job's step (SmolLM2-135M-Instruct + LoRA r 16,
f32, one row of `--len` tokens, `loss_positions` 384) traced with the JAX profiler, its kernels grouped
by kind and output shape, with the op that produced one of them.

    .venv/bin/python bench/profile_sft_step.py [--len 640] [--plain-lora] [--trace-dir /tmp/personax_sft_trace]
    .venv/bin/python bench/profile_sft_step.py --compare 3 [--len 640]   # step seconds, both LoRA forms
    .venv/bin/python bench/profile_sft_step.py --compare 2 --grpo [--len 384]   # GRPO update seconds, both forms

`--plain-lora` puts back autodiff's gradients of the adapter product (`(x A) B`) in place of
`personax.models.layers.lora_delta`'s written-out ones; `--compare N` times the step with each form in
child processes, alternating, N rounds (3 timed steps a child after compile and one warm-up step).
With `--grpo` the children time `bench/speed_grpo.py`'s personax GRPO step instead (a prompt of ~`--len`
tokens, G 4 completions of 64 new tokens, beta 0.1) and report its update phase (old and reference
log-prob passes, forward/backward, optimizer) for steps 3-4.

Each kernel of the compiled step (a `fusion` of the optimized HLO) appears in the trace as one event
named after it; the table sums their durations by (kind, output shape). `ynn_*` kernels are the
matmuls XLA:CPU hands to its YNNPACK library, `copy_*` ones move data between layouts. A class's
share is of the summed kernel time of one step. docs/benchmarks.md, "Where a LoRA SFT step's time goes".
"""
from __future__ import annotations

import argparse
import collections
import glob
import gzip
import json
import os
import re
import statistics
import subprocess
import sys
import time

import jax
import optax

from personax.train.sft import make_sft_step
from speed_common import call_seconds, sft_row, smollm2_lora

_FUSION = re.compile(r"^\s*%(\S+) = (\S+) fusion\(.*?op_name=\"([^\"]*)\"", re.M)


def kernel_table(hlo_text: str, trace_events: list[dict]) -> list[tuple[str, float, int, str]]:
    """(kind and output shape, seconds, calls, one producing op) by total time, largest first."""
    fusions = {name: (f"{name.split('.')[0]} {shape.split('{')[0]}", op) for name, shape, op in _FUSION.findall(hlo_text)}
    seconds, calls, example = collections.Counter(), collections.Counter(), {}
    for e in trace_events:
        if e.get("ph") == "X" and e.get("name") in fusions:
            key, op = fusions[e["name"]]
            seconds[key] += e["dur"] / 1e6
            calls[key] += 1
            example.setdefault(key, op)
    return [(k, s, calls[k], example[k]) for k, s in seconds.most_common()]


def use_plain_lora() -> None:
    """`LoRA.__call__` looks `lora_delta` up in its module: give it the undecorated product."""
    from personax.models import layers

    layers.lora_delta = layers.lora_delta.fun


def grpo_update_seconds(length: int) -> list[float]:
    from personax.models.hub import load
    from speed_grpo import GrpoShape, personax_grpo

    model, _, tok = load("smollm2-135m-instruct", param_dtype="float32", dtype="float32")
    step = personax_grpo(model, tok, " ".join(["history"] * length),
                         GrpoShape(group_size=4, new_tokens=64, lora_rank=16, lora_alpha=32.0))
    return [step(i)["update"] for i in range(4)][2:]


def compare(rounds: int, length: int, grpo: bool) -> None:
    times = {"written-out (lora_delta)": [], "autodiff (plain)": []}
    what = f"s a GRPO update (~{length}-token prompt, G 4 x 64)" if grpo else f"s a step (1 x {length})"
    for _ in range(rounds):
        for form, extra in zip(times, ([], ["--plain-lora"])):
            out = subprocess.run([sys.executable, __file__, "--len", str(length), "--time-only", *extra,
                                  *(["--grpo"] if grpo else [])],
                                 capture_output=True, text=True, check=True).stdout
            times[form] += json.loads(out.strip().splitlines()[-1])
    base = statistics.median(times["autodiff (plain)"])
    print(f"| LoRA gradients | {what} | vs autodiff |\n|---|---|---|")
    for form, ts in times.items():
        print(f"| {form} | {statistics.median(ts):.2f} | {statistics.median(ts) / base:.2f} |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--len", type=int, default=640)
    ap.add_argument("--trace-dir", default="/tmp/personax_sft_trace")
    ap.add_argument("--top", type=int, default=14)
    ap.add_argument("--plain-lora", action="store_true")
    ap.add_argument("--compare", type=int, default=0)
    ap.add_argument("--time-only", action="store_true")
    ap.add_argument("--grpo", action="store_true")
    args = ap.parse_args()
    if args.compare:
        return compare(args.compare, args.len, args.grpo)
    if args.plain_lora:
        use_plain_lora()
    if args.grpo:
        print(json.dumps(grpo_update_seconds(args.len)))
        return
    graphdef, trainable, rngs, frozen = smollm2_lora()
    T = args.len
    batch = sft_row(T, 150)
    tx = optax.adam(1e-5)
    opt = tx.init(trainable)
    step = jax.jit(make_sft_step(graphdef, tx, grad_accum=1, loss_positions=384)).lower(
        trainable, rngs, frozen, opt, batch).compile()
    run = lambda: jax.block_until_ready(step(trainable, rngs, frozen, opt, batch))
    if args.time_only:
        print(json.dumps(call_seconds(run, repeats=3, warmup=1)))
        return
    run()  # one untimed step
    t0 = time.perf_counter()
    with jax.profiler.trace(args.trace_dir, create_perfetto_trace=True):
        run()
    wall = time.perf_counter() - t0
    newest = max(glob.glob(f"{args.trace_dir}/**/*.trace.json.gz", recursive=True), key=os.path.getmtime)
    table = kernel_table(step.as_text(), json.load(gzip.open(newest))["traceEvents"])
    total = sum(s for _, s, _, _ in table)
    print(f"one step of 1 x {T} tokens: {wall:.2f} s wall (traced), {total:.2f} s in {len(table)} kernel classes")
    print("| kernel, output shape | s | share | calls | one of them is |\n|---|---|---|---|---|")
    for key, s, n, op in table[:args.top]:
        print(f"| {key} | {s:.2f} | {100 * s / total:.1f}% | {n} | `{op}` |")


if __name__ == "__main__":
    main()
