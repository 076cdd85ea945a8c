"""`personax export --model NAME_OR_PATH --out DIR`: an HF folder that transformers loads.

Writes config.json, model.safetensors (torch layout, LoRA merged) and the tokenizer files.
"""
from __future__ import annotations

import argparse
import pathlib

from personax.cli import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True,
                        help="registered name (e.g. smollm2-135m-instruct), an HF model folder or a .gguf file")
    parser.add_argument("--out", required=True, type=pathlib.Path, help="folder to write (created if missing)")
    parser.add_argument("--dtype", choices=("float32", "bfloat16"), default=None,
                        help="parameter dtype of the written weights (default: the source's)")
    parser.add_argument("--overwrite", action="store_true", help="write into a non-empty --out folder")


def run(args: argparse.Namespace) -> int:
    out: pathlib.Path = args.out
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file, expected a folder")
    if out.is_dir() and any(out.iterdir()) and not args.overwrite:
        raise UserError(f"--out {out} is not empty; pass --overwrite to write into it")
    from personax.models import hub  # jax loads only once the arguments are known to be good
    from personax.models.weights import save_hf

    model, cfg, tokenizer = hub.load(args.model, param_dtype=args.dtype)
    written = save_hf(model, out, tokenizer)
    if tokenizer is None:
        print(f"note: {args.model} has no tokenizer files; the export holds weights and config only")
    print(f"exported {args.model} ({cfg.family}, {cfg.n_layers} layers, {cfg.param_dtype}) to {out}: "
          f"{', '.join(p.name for p in written)}")
    return 0
