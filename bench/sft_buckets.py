"""What `sft.length_buckets` saves on the default job's real SFT rows, side by side in one run: the
same packed batches stepped at the full `sft.max_len` width and cut to their length bucket.

    .venv/bin/python bench/sft_buckets.py [--batches 12] [--buckets 512,640,768,896,1024] [--workdir DIR]

configs/smollm2_cpu.py's data stage (sim, ~15 s; reused if `--workdir` already holds it) and SFT
pipeline (packed 1024-token rows, batch 1), SmolLM2-135M-Instruct + LoRA r 16, f32, its SFT step
(`loss_positions` 384). The two variants alternate batch by batch after every shape has compiled;
compile time is reported apart. docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import pathlib
import tempfile
import time

import jax
import numpy as np

import speed_common as common


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, default=12)
    ap.add_argument("--buckets", default="512,640,768,896,1024")
    ap.add_argument("--workdir", default="")
    a = ap.parse_args()
    from personax.configfile import load_config
    from personax.data.pipeline import PipelineConfig, bucket_lengths, build_pipeline, trim_to_bucket, used_length
    from personax.models.hub import load
    from personax.train.data_stage import run_data
    from personax.train.sft import make_sft_step, sft_optimizer

    cfg = load_config(str(pathlib.Path(__file__).resolve().parents[1] / "configs" / "smollm2_cpu.py"))
    c = cfg.sft
    workdir = pathlib.Path(a.workdir or tempfile.mkdtemp(prefix="sft_buckets_"))
    sft_path = run_data(cfg, workdir)["sft"]
    _, _, tok = load(cfg.model.name)
    data = build_pipeline(str(sft_path), tok, PipelineConfig(mode="sft", max_len=c.max_len, batch_size=c.batch_size,
                                                             pack=c.pack, seed=cfg.seed, num_epochs=None))
    it = iter(data)
    full = [next(it) for _ in range(a.batches)]
    buckets = bucket_lengths([int(b) for b in a.buckets.split(",")], c.max_len)
    cut = [trim_to_bucket(b, buckets, used_length(b)) for b in full]

    graphdef, trainable, rngs, frozen = common.smollm2_lora(cfg.lora.rank, cfg.lora.alpha)
    tx, _ = sft_optimizer(c)
    opt = tx.init(trainable)
    step = jax.jit(make_sft_step(graphdef, tx, c.grad_accum, c.loss_positions))

    def run(batch) -> float:
        t0 = time.perf_counter()
        jax.block_until_ready(step(trainable, rngs, frozen, opt, batch))
        return time.perf_counter() - t0

    compile_s = {}
    for b in [full[0], *cut]:  # one call a new shape: its compile and first run
        width = b["tokens"].shape[1]
        if width not in compile_s:
            compile_s[width] = run(b)
    seconds = {"full": 0.0, "bucketed": 0.0}
    for f, b in zip(full, cut):
        seconds["full"] += run(f)
        seconds["bucketed"] += run(b)
    states = sum(int(np.unique(row[row > 0]).size) for b in full for row in b["segment_ids"])  # ids restart a row
    real = sum(int((b["segment_ids"] > 0).sum()) for b in full)
    widths = [b["tokens"].shape[1] for b in cut]
    print(f"SmolLM2-135M + LoRA r{cfg.lora.rank}, {a.batches} packed SFT batches of configs/smollm2_cpu.py "
          f"({states} states, {real} real tokens), {jax.device_count()} {jax.devices()[0].platform} device(s)\n"
          f"bucket widths used: {sorted(set(widths))}, mean {np.mean(widths):.0f}; first call a shape (compile "
          f"+ run), s: {', '.join(f'{w}: {s:.1f}' for w, s in sorted(compile_s.items()))}\n\n"
          "| rows | s a step | real tokens/s | vs full width |\n|---|---|---|---|")
    for name, s in seconds.items():
        print(f"| {name} | {s / a.batches:.2f} | {real / s:.0f} | {s / seconds['full']:.2f} |")


if __name__ == "__main__":
    main()
