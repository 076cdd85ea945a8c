"""A trained reward model loaded for scoring: `RewardScorer.load(WORKDIR/reward_model)`."""
from __future__ import annotations

import dataclasses
import pathlib
from typing import Any, Sequence

import jax
import ml_collections
import numpy as np

from personax.train.checkpoint import Checkpointer, abstract_like
from personax.train.reward_model.model import (build_reward_model, encode, read_model_config, score_fn,
                                               split_reward_model)


@dataclasses.dataclass
class RewardScorer:
    tok: Any
    max_len: int
    state: tuple  # (trainable, rngs, frozen)
    score_jit: Any
    batch_size: int = 16
    step: int = 0  # the checkpoint's training step

    @classmethod
    def load(cls, directory: str | pathlib.Path, step: int | None = None, batch_size: int = 16) -> "RewardScorer":
        """The base weights (pretrained or the seed's scratch init) are rebuilt from the saved
        config; the trained part (all parameters, or LoRA adapters + head) comes from the checkpoint."""
        directory = pathlib.Path(directory)
        saved = read_model_config(directory)
        model_cfg, lora_cfg = (ml_collections.ConfigDict(saved[k]) for k in ("model", "lora"))
        model, tok = build_reward_model(model_cfg, lora_cfg, saved["seed"], directory)
        graphdef, trainable, rngs, frozen = split_reward_model(model)
        ckpt = Checkpointer(str(directory / "checkpoints"), max_to_keep=None, async_save=False)
        if ckpt.latest_step() is None:
            raise FileNotFoundError(f"{directory}: no reward model checkpoint under checkpoints/")
        r = ckpt.restore(step, params=abstract_like({"trainable": trainable, "rngs": rngs}))
        ckpt.close()
        state = (r["params"]["trainable"], r["params"]["rngs"], frozen)
        return cls(tok, saved["max_len"], state, jax.jit(score_fn(graphdef)), batch_size, r["step"])

    def score(self, contexts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        """Raw scalar rewards_N (float32), each distinct (context, response) computed once, in
        fixed-size batches so one compiled shape serves every call."""
        if len(contexts) != len(responses):
            raise ValueError(f"{len(contexts)} contexts but {len(responses)} responses")
        keys = list(dict.fromkeys(zip(contexts, responses)))
        out = np.zeros(len(keys), np.float32)
        for start in range(0, len(keys), self.batch_size):
            chunk = keys[start:start + self.batch_size]
            rows = chunk + [chunk[0]] * (self.batch_size - len(chunk))
            tokens_BxT, valid_BxT = encode(self.tok, [c for c, _ in rows], [r for _, r in rows], self.max_len)
            out[start:start + len(chunk)] = np.asarray(self.score_jit(*self.state, tokens_BxT, valid_BxT))[:len(chunk)]
        where = {k: i for i, k in enumerate(keys)}
        return out[[where[k] for k in zip(contexts, responses)]] if keys else out
