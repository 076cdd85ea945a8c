"""Smoke run: a tiny from-scratch model on sim data, end to end on a laptop CPU.

    personax sft --config configs/smoke_cpu.py --workdir /tmp/smoke
    personax grpo --config configs/smoke_cpu.py --workdir /tmp/smoke

Runs on: 2 CPU cores, no network, no key; about 2-3 minutes (datagen of 30 personas on the sim
world, a 512-piece sentencepiece tokenizer trained in-process, 30 full fine-tuning SFT steps of a
2-layer 64-wide model). Expected: `WORKDIR/data/ppopt/{sft,rl,eval}.jsonl` from 30 personas and an
SFT loss falling from about ln(512) = 6.2 to below 4.5 (`WORKDIR/sft/metrics.jsonl`); then 4 GRPO
steps (2 states x G=4, 48 new tokens, sim deployed model and judges) logging every reward
component in `WORKDIR/grpo/metrics.jsonl` (a from-scratch model this small barely writes the tags:
the smoke run proves the loop, not learning). Rerunning the
command resumes from the last checkpoint. Sim results describe the sim world only.
"""
from personax.train.experiment import experiment


def get_config():
    c = experiment()
    c.model.name = "tiny"
    c.model.init = "scratch"
    c.model.vocab_size = 512
    c.model.max_seq_len = 1024
    c.lora.rank = 0  # full fine-tuning: LoRA on a random base would learn little
    c.data.datagen.num_personas = 30
    c.data.splits = "sft=12,rl=12,eval=6"
    c.sft.update(steps=30, batch_size=4, grad_accum=2, max_len=1024, peak_lr=3e-3, end_lr=3e-4,
                 warmup_steps=3, log_every=1, checkpoint_every=10)
    c.stages = ("data", "sft", "grpo", "eval")
    c.grpo.update(dict(steps=4, lr=1e-3, max_prompt_len=768, checkpoint_every=2))
    c.grpo.sampling.max_new_tokens = 48
    c.grpo.batch.update(dict(prompts_per_step=2, group_size=4, mini_batch_size=4, micro_batch_size=2))
    return c
