"""The experiment config schema with defaults; each `configs/*.py` starts from `experiment()` and edits it."""
from __future__ import annotations

import ml_collections

from data_gen.config import base_config as datagen_config
from personax.eval.config import get_eval_config
from personax.models.lora import DEFAULT_TARGETS
from personax.rewards import get_rewards_config
from personax.rl.config import get_grpo_config
from personax.train.reward_model import get_reward_model_config


def experiment() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.progress = True
    c.stages = ("data", "sft")

    c.model = ml_collections.ConfigDict(dict(
        name="smollm2-135m-instruct", init="pretrained",  # or init="scratch" with a registered config name
        param_dtype="", dtype="",  # "" keeps the checkpoint's dtypes
        vocab_size=512, max_seq_len=2048))  # scratch only: tokenizer size and context
    c.lora = ml_collections.ConfigDict(dict(rank=32, alpha=64.0, dropout=0.0, targets=DEFAULT_TARGETS))
    c.mesh = ml_collections.ConfigDict(dict(data=-1, fsdp=1, tensor=1))

    c.data = ml_collections.ConfigDict()
    c.data.datagen = datagen_config()
    c.data.datagen.progress = False
    c.data.splits = "sft=0.45,rl=0.45,eval=0.1"  # persona-disjoint; name=count or name=fraction
    c.data.max_history = 4
    c.data.states_per_persona = 1  # SFT and RL splits: each conversation up to this many a persona is a target once
    c.data.heldout_states_per_persona = 1  # the held-out split likewise; > 1: intervals resample personas
    c.data.teacher = "sim"  # | "hosted" (then set data.teacher_role, see personax.llm.config.role_config)
    c.data.teacher_best_of = 1  # sim teacher: K labels a state, the one its rewrite scores best kept (docs/data_formats.md)
    c.data.teacher_reads_query = False  # sim teacher: True reads the query's own cues too (docs/data_formats.md)

    c.sft = ml_collections.ConfigDict(dict(
        steps=100, batch_size=8, grad_accum=1, max_len=4096, pack=False,
        length_buckets=(),  # e.g. (512, 768): a batch is cut to the shortest that holds it (one compile each)
        loss_positions=0,  # K > 0: project only each row's first K completion positions onto the vocabulary
        peak_lr=5e-5, end_lr=1e-5, warmup_steps=100, b1=0.9, b2=0.95, eps=1e-12, grad_clip=1.0,
        log_every=1, checkpoint_every=50, keep_checkpoints=2))

    c.grpo = get_grpo_config()
    c.grpo.update(dict(steps=100, lr=1e-5, b1=0.9, b2=0.99, eps=1e-8, grad_clip=1.0, max_prompt_len=3584,
                       log_every=1, checkpoint_every=10, keep_checkpoints=2, samples_to_log=4))
    c.rewards = get_rewards_config()
    c.eval = get_eval_config()
    c.reward_model = get_reward_model_config()  # `personax reward-model`; used by GRPO via rewards.learned_rm
    return c
