"""Batch hierarchy validation, the update schedule, and the GRPO config's defaults."""
import numpy as np
import pytest

from personax.rl.batching import BatchHierarchy, update_schedule
from personax.rl.config import batch_hierarchy, get_grpo_config, loss_config, old_logp_source, sampling_params


def test_counts():
    h = BatchHierarchy(prompts_per_step=4, group_size=8, mini_batch_size=16, micro_batch_size=4,
                       num_iterations=2, data_shards=2)
    assert (h.completions, h.minibatches_per_pass, h.micro_batches_per_update, h.updates_per_step) == (32, 2, 4, 4)


@pytest.mark.parametrize("kw,message", [
    (dict(mini_batch_size=12), "4 prompts × G=8 = 32 completions do not split into mini-batches of 12"),
    (dict(micro_batch_size=3), "mini_batch_size 16 does not split into micro-batches of 3"),
    (dict(data_shards=3), "micro_batch_size 4 does not split over 3 data-parallel shards"),
    (dict(group_size=1, mini_batch_size=4), "group_size G=1 must be >= 2"),
    (dict(num_iterations=0), "num_iterations must be a positive integer, got 0"),
    (dict(prompts_per_step=2.0), "prompts_per_step must be a positive integer, got 2.0"),
    (dict(micro_batch_size=True), "micro_batch_size must be a positive integer, got True"),
    (dict(share_prompt=True), "micro_batch_size 4 is not a multiple of G=8"),
    (dict(share_prompt=1), "share_prompt must be a bool, got 1"),
])
def test_errors_name_the_numbers(kw, message):
    base = dict(prompts_per_step=4, group_size=8, mini_batch_size=16, micro_batch_size=4)
    with pytest.raises(ValueError, match=message):
        BatchHierarchy(**{**base, **kw})


def test_schedule_covers_each_completion_once_per_pass():
    h = BatchHierarchy(prompts_per_step=3, group_size=4, mini_batch_size=6, micro_batch_size=2, num_iterations=3)
    s = update_schedule(h, seed=7, step=11)
    assert s.shape == (6, 3, 2)  # μ·(12/6) updates, 3 micro-batches of 2
    passes = s.reshape(3, -1)
    for p in passes:
        assert sorted(p) == list(range(12))
    assert not (passes[0] == passes[1]).all()  # each pass reshuffles
    assert (update_schedule(h, seed=7, step=11) == s).all()
    assert not (update_schedule(h, seed=7, step=12) == s).all()
    assert not (update_schedule(h, seed=8, step=11) == s).all()
    assert (update_schedule(h, 7, 11, shuffle=False).reshape(3, -1) == np.arange(12)).all()
    with pytest.raises(ValueError, match="seed=-1"):
        update_schedule(h, seed=-1, step=0)


def test_shared_prompt_schedule_keeps_groups_whole():
    h = BatchHierarchy(prompts_per_step=4, group_size=3, mini_batch_size=6, micro_batch_size=3,
                       num_iterations=2, share_prompt=True)
    s = update_schedule(h, seed=5, step=2)
    assert s.shape == (4, 2, 3)
    for micro in s.reshape(-1, 3):  # one group, in sampler order
        assert micro[0] % 3 == 0 and list(micro) == list(range(micro[0], micro[0] + 3))
    passes = s.reshape(2, -1)
    assert all(sorted(p) == list(range(12)) for p in passes)
    assert not (passes[0] == passes[1]).all()


def test_config_defaults_are_the_papers():
    c = get_grpo_config()
    assert (c.batch.group_size, c.batch.num_iterations) == (8, 1)
    assert (c.sampling.temperature, c.sampling.top_p, c.sampling.max_new_tokens) == (0.7, 0.9, 512)
    lc = loss_config(c)
    assert (lc.clip_eps_low, lc.clip_eps_high, lc.beta, lc.kl_estimator, lc.aggregation, lc.norm_length) == (
        0.2, 0.2, 0.1, "k3", "seq_mean_token_mean", 512)
    assert c.advantage.estimator == "group_norm" and c.filter.max_failure_rate == 0.8
    assert batch_hierarchy(c).updates_per_step == 1


def test_config_overrides_flow_through():
    c = get_grpo_config()
    c.sampling.max_new_tokens = 64
    c.batch.update(prompts_per_step=2, mini_batch_size=8, micro_batch_size=4, num_iterations=2)
    assert loss_config(c).norm_length == 64  # Dr. GRPO's constant follows the sampling budget
    assert batch_hierarchy(c).updates_per_step == 4
    p = sampling_params(c, (5, 7))
    assert (p.num_samples, p.max_new_tokens, p.stop_ids, p.temperature) == (8, 64, (5, 7), 0.7)
    with pytest.raises(ValueError, match="stop token"):
        sampling_params(c, ())
    c.batch.mini_batch_size = 5
    with pytest.raises(ValueError, match="16 completions do not split into mini-batches of 5"):
        batch_hierarchy(c)


def test_old_logp_source_is_checked():
    c = get_grpo_config()
    assert old_logp_source(c) == "trainer"
    c.old_logp = "sampler"
    assert old_logp_source(c) == "sampler"
    c.old_logp = "vllm"
    with pytest.raises(ValueError, match=r"grpo.old_logp='vllm': must be one of \('trainer', 'sampler'\)"):
        old_logp_source(c)
