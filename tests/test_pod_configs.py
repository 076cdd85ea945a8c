"""The 8B pod configs carry the paper's settings and their `:tiny` variant runs one SFT and one
GRPO step on a (2, 2, 2) mesh of 8 fake CPU devices, through the same code as the real thing."""
import pathlib

import pytest

from personax.configfile import load_config

ROOT = pathlib.Path(__file__).resolve().parents[1]
CONFIGS = ["qwen3_8b_tpu.py", "llama31_8b_tpu.py"]


@pytest.mark.parametrize("name", CONFIGS)
def test_paper_settings(name):
    c = load_config(str(ROOT / "configs" / name))
    assert c.lora.rank == 32 and c.model.param_dtype == "bfloat16"
    assert (c.sft.peak_lr, c.sft.end_lr, c.sft.warmup_steps, c.sft.max_len) == (5e-5, 1e-5, 100, 4096)
    g = c.grpo
    assert (g.batch.group_size, g.loss.clip_eps_low, g.loss.clip_eps_high, g.loss.beta, g.lr) == (8, 0.2, 0.2, 0.1, 1e-5)
    assert (g.sampling.temperature, g.sampling.top_p, g.sampling.max_new_tokens) == (0.7, 0.9, 512)
    assert dict(c.rewards.weights) == {"profile": 0.3, "task_pairwise": 0.7, "format": 0.0}
    assert c.rewards.deployed.backend == "hosted" and c.rewards.judge.backend == "hosted"
    assert c.stages == ("data", "sft", "grpo", "eval")
    with pytest.raises(ValueError, match="unknown config variant 'huge'"):
        load_config(str(ROOT / "configs" / name) + ":huge")


def test_tiny_variant_runs_sft_and_grpo_on_eight_devices(tmp_path):
    import jax

    from personax.train.grpo_run import run_grpo
    from personax.train.sft_run import run_sft

    assert len(jax.devices()) == 8
    cfg = load_config(str(ROOT / "configs" / "qwen3_8b_tpu.py") + ":tiny")
    sft = run_sft(cfg, tmp_path)
    assert sft["step"] == 1 and sft["loss"] > 0
    grpo = run_grpo(cfg, tmp_path)
    assert grpo["step"] == 1 and grpo["started_from_sft"]
    # The tiny random policy ties every group: zero advantages, and the KL term (beta 0.1) is at its
    # minimum (policy = reference), so the gradient is zero up to float rounding: the policy pass
    # (under grad) and the reference pass are separate XLA programs, bit-equal on some CPUs and
    # ~1e-7 apart in log-prob on others, which leaves a ~1e-8 gradient (that Adam's normalisation
    # then turns into a ~1e-4 step).
    assert grpo["zero_variance_group_frac"] == 1.0 and grpo["advantage_std"] == 0.0
    assert grpo["loss"] == 0.0 and grpo["grad_norm"] < 1e-6
    assert (tmp_path / "grpo" / "checkpoints" / "1").is_dir()
