"""`personax nll --model NAME_OR_PATH --text-file F`: mean negative log-likelihood of a text.

The text is tokenized as the model's own tokenizer files say (special tokens added by its
post-processor included). Printed last: `nll=<mean over tokens 2..n> tokens=<n-1> ppl=<exp(nll)>`.
"""
from __future__ import annotations

import argparse
import math
import pathlib


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="registered name or a path")
    p.add_argument("--text-file", required=True, type=pathlib.Path)


def mean_nll(model, token_ids: list[int]) -> tuple[float, int]:
    import jax
    import jax.numpy as jnp
    from flax import nnx

    from personax.models.transformer import causal_mask, positions_from_valid
    from personax.train.losses import token_logprobs

    graphdef, state = nnx.split(model)

    @jax.jit
    def logprobs(state, tokens_1xT):
        valid = jnp.ones_like(tokens_1xT, bool)
        logits, _ = nnx.merge(graphdef, state)(tokens_1xT, positions_from_valid(valid), causal_mask(valid))
        return token_logprobs(logits[:, :-1], tokens_1xT[:, 1:])

    lp = logprobs(state, jnp.asarray([token_ids], jnp.int32))
    return float(-jnp.mean(lp)), len(token_ids) - 1


def run(args: argparse.Namespace) -> int:
    from personax.cli import UserError
    from personax.commands import load_model_and_tokenizer

    try:
        text = args.text_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"cannot read --text-file {args.text_file}: {e}") from None
    model, cfg, tok = load_model_and_tokenizer(args.model)
    ids = tok.encode(text)
    if len(ids) < 2:
        raise UserError(f"{args.text_file}: needs at least 2 tokens to score, got {len(ids)}")
    if len(ids) > cfg.max_seq_len:
        raise UserError(f"{args.text_file}: {len(ids)} tokens exceed the model's max_seq_len={cfg.max_seq_len}")
    nll, n = mean_nll(model, ids)
    print(f"nll={nll:.6f} tokens={n} ppl={math.exp(nll):.4f}")
    return 0
