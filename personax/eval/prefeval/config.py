"""The `prefeval` section of a config: which PrefEval items, which methods, the deployed model that
chooses, and the (off by default) hosted judge of the four preference-following checks."""
from __future__ import annotations

import ml_collections

from personax.llm.config import role_config

DEFAULT_METHODS = ("original", "full_history", "oracle", "ppopt_sft", "ppopt_grpo")


def get_prefeval_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.data_dir = ""  # a directory in PrefEval's layout (required)
    c.forms = ("explicit", "implicit")
    c.topics = ()  # () = every topic present in data_dir
    c.per_topic = 2  # items per topic (the same items in each form); 0 = all
    c.seed = 0  # item picks, option shuffles, bootstrap
    c.methods = DEFAULT_METHODS  # registered eval methods; "original" is always scored (the paired baseline)
    c.policy_workdir = ""  # the trained experiment's workdir that ppopt_* methods load; "" = the run's workdir
    c.deployed = ml_collections.ConfigDict(dict(
        model="smollm2-135m-instruct",  # registered name or path (personax.models.hub)
        dtype="float32",  # "" keeps the checkpoint's
        batch_size=8,  # rows per jitted scoring call
        answer_max_tokens=256))  # free-form answers for the judge (greedy)
    c.mcq = ml_collections.ConfigDict(dict(scorers=("letter", "option_logprob")))  # see prefeval/mcq.py
    c.judge = ml_collections.ConfigDict(dict(
        enabled=False,  # needs a hosted (or local OpenAI-compatible) endpoint
        json_mode=True,
        llm=role_config(models=(("gpt-4o-mini", 1.0),), temperature=0.0, max_tokens=256)))
    c.concurrency = 16  # judge calls in flight
    c.bootstrap_samples = 1000
    c.confidence = 0.95
    c.plots = True
    return c
