"""`get_grpo_config()`: the GRPO knobs with the paper's defaults (SPEC §2.3), and the typed
objects built from them. Reward weights (λ_prof 0.3, λ_task 0.7) live with the rewards."""
from __future__ import annotations

from ml_collections import config_dict

from personax.rl.batching import BatchHierarchy
from personax.rl.filtering import TRUNCATED_MODES, FailureRateTracker
from personax.rl.loss import LossConfig
from personax.rl.segments import CREDIT_MODES
from personax.sampler import SamplingParams


def get_grpo_config() -> config_dict.ConfigDict:
    c = config_dict.ConfigDict()
    c.prompt_splits = ("rl",)  # the data splits whose states GRPO samples (their teacher labels unused)
    # Only the first N of those states (None: all): the overfit check, GRPO's reward must rise on a few states.
    c.max_states = config_dict.placeholder(int)
    # GRPO's own draws (state order, sampling keys, mini-batch order); None: the experiment's `seed`. Set it
    # alone for a replicate run from the same data and SFT checkpoint (`seed` also decides the data).
    c.seed = config_dict.placeholder(int)

    c.sampling = config_dict.ConfigDict()
    c.sampling.temperature = 0.7
    c.sampling.top_p = 0.9
    c.sampling.top_k = 0  # off
    c.sampling.max_new_tokens = 512

    c.batch = config_dict.ConfigDict()
    c.batch.prompts_per_step = 1  # the reference trains on one state per step
    c.batch.group_size = 8  # G
    c.batch.mini_batch_size = 8  # completions per optimizer update
    c.batch.micro_batch_size = 8  # completions per forward/backward (gradient accumulation below)
    c.batch.num_iterations = 1  # μ passes over each step's batch; > 1 is where clipping acts
    c.batch.data_shards = 1
    c.batch.shuffle = True
    c.batch.share_prompt = False  # True: one prompt forward/backward per group (micro_batch_size % G == 0)
    # π_old when a step makes several updates: "trainer" (a forward pass over the rollouts before the first
    # update) or "sampler" (the log-probs the sampler drew them with: no extra pass; exact only where the
    # sampler and the trainer compute the same numbers, which `logprob_gap_sampler_trainer` shows).
    c.old_logp = "trainer"

    c.advantage = config_dict.ConfigDict()
    c.advantage.estimator = "group_norm"  # group_norm | group_center | rloo
    c.advantage.eps = 1e-8
    # "sequence": every token of a completion gets its R's advantage. "segments": the PROMPT's tokens get
    # the advantage of R without the terms that read only the REASONING (personax.rl.segments).
    c.advantage.credit = "sequence"

    c.loss = config_dict.ConfigDict()
    c.loss.clip_eps_low = 0.2
    c.loss.clip_eps_high = 0.2
    c.loss.beta = 0.1  # against the frozen SFT policy; 0 skips the reference pass
    c.loss.kl_estimator = "k3"  # k1 | k2 | k3
    c.loss.aggregation = "seq_mean_token_mean"  # | token_mean | seq_mean_token_sum_norm
    c.loss.norm_length = c.sampling.get_ref("max_new_tokens")  # Dr. GRPO's constant follows the budget

    c.filter = config_dict.ConfigDict()
    c.filter.min_valid_per_group = 2
    # A completion cut at max_new_tokens (no stop token): "keep" it as scored; "drop" it from its group's
    # statistics and the loss like a failed reward call (the overlong filter; not counted toward the abort
    # rate); "penalize": its total reward is `truncated_reward` whatever its terms said (the overlong penalty).
    c.filter.truncated = "keep"
    c.filter.truncated_reward = 0.0
    c.filter.max_failure_rate = 0.8  # abort above this over the window
    c.filter.failure_window = 256  # rollouts
    c.filter.failure_min_rollouts = 32
    return c


def loss_config(c: config_dict.ConfigDict) -> LossConfig:
    return LossConfig(**c.loss.to_dict())


def batch_hierarchy(c: config_dict.ConfigDict) -> BatchHierarchy:
    fields = {k: v for k, v in c.batch.to_dict().items() if k != "shuffle"}
    return BatchHierarchy(**fields)


OLD_LOGP_SOURCES = ("trainer", "sampler")


def _one_of(field: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"grpo.{field}={value!r}: must be one of {allowed}")
    return value


def old_logp_source(c: config_dict.ConfigDict) -> str:
    return _one_of("old_logp", c.old_logp, OLD_LOGP_SOURCES)


def credit_mode(c: config_dict.ConfigDict) -> str:
    return _one_of("advantage.credit", c.advantage.credit, CREDIT_MODES)


def sampling_params(c: config_dict.ConfigDict, stop_ids: tuple[int, ...]) -> SamplingParams:
    if not stop_ids:
        raise ValueError("GRPO sampling needs the chat template's stop token ids (SPEC §2.1)")
    return SamplingParams(max_new_tokens=c.sampling.max_new_tokens, temperature=c.sampling.temperature,
                          top_p=c.sampling.top_p, top_k=c.sampling.top_k,
                          num_samples=c.batch.group_size, stop_ids=tuple(stop_ids))


def truncated_mode(c: config_dict.ConfigDict) -> str:
    return _one_of("filter.truncated", c.filter.truncated, TRUNCATED_MODES)


def failure_tracker(c: config_dict.ConfigDict, recent: list[bool] = ()) -> FailureRateTracker:
    return FailureRateTracker(max_rate=c.filter.max_failure_rate, window=c.filter.failure_window,
                              min_rollouts=c.filter.failure_min_rollouts, recent=list(recent))
