"""The `eval` section of an experiment config (SPEC §2.4-2.5): which methods, how many items,
how the policy samples, how the intervals are drawn. Deployed LLM and judges are `cfg.rewards`'s."""
from __future__ import annotations

import ml_collections

from personax.llm.config import role_config

DEFAULT_METHODS = ("original", "full_history", "full_history_reminder", "retrieval_topk", "profile_summary",
                   "generic_rewriter", "oracle", "ppopt_zero_shot", "ppopt_sft", "ppopt_grpo",
                   "ppopt_task_only", "ppopt_no_profile")  # ablations: skipped with a note until trained
ROBUSTNESS_METHODS = ("original", "full_history", "profile_summary", "generic_rewriter", "ppopt_sft", "ppopt_grpo")
NOISE_LAYERS = ("surface_noise", "incomplete_info", "semantic_ambiguity")


def get_robustness_config() -> ml_collections.ConfigDict:
    """Sweeps over the held-out states' histories (robustness.py); each point scores `methods`."""
    return ml_collections.ConfigDict(dict(
        enabled=False,
        sweeps=("noise", "sparsity", "traits"),
        methods=ROBUSTNESS_METHODS,
        max_examples=0,  # states per point: the first N of the evaluated states (0 = all of them)
        seed=0,  # which messages are noised and how
        noise_layers=NOISE_LAYERS,
        noise_rates=(0.0, 0.25, 0.5, 0.75, 1.0),
        sessions=(1, 2, 3, 4),  # sparsity: the last k history sessions kept
        express_scales=(0.25, 0.5, 0.75, 1.0)))  # traits: the sim user's expression knob


def get_eval_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.methods = DEFAULT_METHODS  # "original" is always scored: it is every other method's baseline
    c.split = "eval"  # WORKDIR/data/ppopt/<split>.jsonl
    c.max_examples = 0  # 0 = the whole split, else its first N
    # Answers the deployed LLM gives each prompt (sample indices 0..K-1), each judged; an item's scores are
    # their means and its pairwise outcome the share of its K comparisons (answer k vs the original's answer
    # k). K > 1 measures a method's expected score instead of one draw's; it costs K x the deployed and judge
    # calls (free in the sim world, paid with hosted models).
    c.answers_per_prompt = 1
    c.seed = 0  # bootstrap resampling
    c.bootstrap_samples = 1000
    c.confidence = 0.95
    c.concurrency = 16  # deployed, summarizer, rewriter and judge calls in flight
    c.retrieval_k = 3  # retrieval_topk: past user turns kept
    c.reminder = ("Remember the preferences I have shown in these earlier conversations, and tailor your "
                  "answer to them.")
    c.summarizer = ml_collections.ConfigDict(dict(
        backend="deployed",  # "deployed": the deployed LLM summarizes; "hosted": the model in `llm`
        llm=role_config(models=(("gpt-4o-mini", 1.0),), temperature=0.0, max_tokens=512)))
    c.rewriter = ml_collections.ConfigDict(dict(
        backend="base",  # "base": the untrained policy base model on the sampler; "hosted": the model in `llm`
        llm=role_config(models=(("gpt-4o-mini", 1.0),), temperature=0.0, max_tokens=512)))
    c.policy = ml_collections.ConfigDict(dict(
        batch_size=8,  # states per sampler call; the last batch is padded to this size
        max_prompt_len=0,  # 0 = grpo.max_prompt_len (the prompt is cut from the left)
        max_new_tokens=0))  # 0 = grpo.sampling.max_new_tokens; decoding is greedy
    c.robustness = get_robustness_config()
    c.plots = True
    return c
