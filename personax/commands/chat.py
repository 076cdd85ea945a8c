"""`personax chat --model NAME_OR_PATH --prompt TEXT`: one reply through personax's own loader,
tokenizer (chat template) and KV-cache sampler."""
from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="registered name (e.g. smollm2-135m-instruct) or a path")
    p.add_argument("--prompt", required=True)
    p.add_argument("--system", default=None, help="optional system message")
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--temperature", type=float, default=0.0, help="0 = greedy")
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--top-k", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    import jax
    from flax import nnx

    from personax.commands import load_model_and_tokenizer
    from personax.sampler import SamplingParams, generate, left_pad

    model, cfg, tok = load_model_and_tokenizer(args.model)
    messages = ([{"role": "system", "content": args.system}] if args.system else []) + [
        {"role": "user", "content": args.prompt}]
    tokens, valid = left_pad([tok.encode_chat(messages)], pad_id=tok.pad_id or 0)
    params = SamplingParams(max_new_tokens=args.max_new_tokens, greedy=args.temperature == 0,
                            temperature=args.temperature or 1.0, top_p=args.top_p, top_k=args.top_k,
                            stop_ids=tuple(tok.stop_token_ids))
    graphdef, state = nnx.split(model)
    out = generate(graphdef, state, tokens, valid, jax.random.key(args.seed), params)
    n = int(out.lengths_N[0])
    print(tok.decode(out.tokens_NxM[0, :n].tolist(), skip_special_tokens=True).strip())
    return 0
