"""The reward model: a `ScalarHeadLM` whose trunk comes from the experiment's model config
(pretrained, e.g. smollm2 with LoRA, or a scratch config), its inputs, and its saved form.

Input: the chat template with the context as the user turn and the response as the assistant turn
(the layout the policy was trained in); the context is cut from the left to fit `max_len`, and the
score is read at the last real token. With LoRA the adapters and the head are trained; without,
every parameter is.
"""
from __future__ import annotations

import json
import pathlib
from typing import Callable, Iterable, Sequence

import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import nnx

from personax.data.examples import PPOptExample
from personax.data.tokenize import prompt_and_completion_ids, truncate_left
from personax.models.layers import Linear, LoRAParam
from personax.models.lora import has_lora
from personax.models.transformer import ScalarHeadLM
from personax.train.policy import add_adapters, load_base

CONFIG_FILE = "config.json"  # in the reward model's directory: what rebuilds it for scoring


def build_reward_model(model_cfg: ml_collections.ConfigDict, lora_cfg: ml_collections.ConfigDict, seed: int,
                       directory: pathlib.Path, texts: Callable[[], Iterable[str]] | None = None):
    """(ScalarHeadLM, tokenizer). A scratch trunk's tokenizer lives in `directory`."""
    trunk, tok = load_base(model_cfg, seed, directory, texts)
    # Built abstractly, then given the loaded trunk: a pretrained trunk is never allocated twice.
    model = nnx.eval_shape(lambda: ScalarHeadLM(trunk.cfg, nnx.Rngs(seed)))
    model.trunk = trunk
    model.head = Linear(trunk.cfg.d_model, 1, bias=True, cfg=trunk.cfg, rngs=nnx.Rngs(seed + 3))  # as ScalarHeadLM's
    add_adapters(model.trunk, lora_cfg, seed)
    return model, tok


def split_reward_model(model: ScalarHeadLM):
    """-> graphdef, trainable, rngs, frozen (for `personax.train.step.make_train_step`)."""
    trainable = nnx.Any(LoRAParam, nnx.PathContains("head")) if has_lora(model) else nnx.Param
    return nnx.split(model, trainable, nnx.RngState, ...)


def encode(tok, contexts: Sequence[str], responses: Sequence[str], max_len: int) -> tuple[np.ndarray, np.ndarray]:
    """(tokens_NxT int32 right-padded with pad_id, valid_NxT bool), T = max_len."""
    if len(contexts) != len(responses):
        raise ValueError(f"{len(contexts)} contexts but {len(responses)} responses")
    tokens_NxT = np.full((len(contexts), max_len), tok.pad_id, np.int32)
    valid_NxT = np.zeros((len(contexts), max_len), bool)
    for i, (context, response) in enumerate(zip(contexts, responses)):
        # The policy's own tokenization of (state, target): only `input` and `output` are read.
        turn = PPOptExample(state_id=f"row {i}", persona_id="", persona={}, history_texts=(), original_query="",
                            input=context, output=response)
        prompt, completion = truncate_left(*prompt_and_completion_ids(tok, turn), max_len)
        ids = prompt + completion
        tokens_NxT[i, :len(ids)], valid_NxT[i, :len(ids)] = ids, True
    return tokens_NxT, valid_NxT


def score_fn(graphdef):
    """jit-able (trainable, rngs, frozen, tokens_NxT, valid_NxT) -> raw scores_N float32."""

    def score(trainable, rngs, frozen, tokens_NxT, valid_NxT):
        return nnx.merge(graphdef, trainable, rngs, frozen).score(tokens_NxT, jnp.asarray(valid_NxT, bool))

    return score


def save_model_config(directory: pathlib.Path, cfg: ml_collections.ConfigDict, max_len: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    saved = {"model": cfg.model.to_dict(), "lora": cfg.lora.to_dict(), "seed": int(cfg.seed), "max_len": int(max_len)}
    (directory / CONFIG_FILE).write_text(json.dumps(saved, indent=1))


def read_model_config(directory: pathlib.Path) -> dict:
    path = directory / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{directory} is not a reward model directory: no {CONFIG_FILE} (train one with "
                                f"`personax reward-model train`; its directory is WORKDIR/reward_model)")
    saved = json.loads(path.read_text())
    missing = {"model", "lora", "seed", "max_len"} - saved.keys()
    if missing:
        raise ValueError(f"{path}: missing fields {sorted(missing)}")
    return saved
