"""configs/smoke_cpu.py as a two-host run on one machine: two processes with 4 fake CPU devices
each, joined over 127.0.0.1 into one 8-device mesh (the multi-host code path, for real).

    python -m launch --config configs/launch/smoke_local2.py --config.workdir=/tmp/smoke2

Runs on: 2 CPU cores; 85 s measured at load ~10 (sim data of 16 personas, 2 SFT steps, 2 GRPO
steps of 2 states x G=4 x 8 new tokens, each process scoring 4 rollouts). Expected:
WORKDIR/grpo/metrics.jsonl with steps 1-2 written by process 0 only, checkpoints in
WORKDIR/{sft,grpo}/checkpoints; rerunning continues from them, and a killed worker makes the
launcher retry the pair, which resumes. A tiny scratch model after 2 SFT steps writes no tags and never
wins the pairwise task judge, so the rewards add the sim task share of the answer to its rewrite
(`sim_task`), which a rollout sometimes earns: GRPO step 1 then has a group with a spread, and the
weights move (tests/test_multihost.py checks that a rerun's extra step trains). This proves the code
path, not learning.
"""
from launch.config import launch_config


def get_config():
    c = launch_config()
    c.name = "smoke-local2"
    c.backend = "local"
    c.experiment = "configs/smoke_cpu.py"
    c.workdir = "/tmp/personax-smoke-local2"
    c.overrides = ("stages=data,sft,grpo", "progress=false", "data.datagen.num_personas=16",
                   "data.splits=sft=8,rl=6,eval=2", "sft.steps=2", "sft.batch_size=8", "sft.max_len=512",
                   "sft.checkpoint_every=1", "grpo.steps=2", "grpo.checkpoint_every=1", "grpo.max_prompt_len=384",
                   "grpo.batch.prompts_per_step=2", "grpo.batch.mini_batch_size=8", "grpo.batch.micro_batch_size=4",
                   "grpo.sampling.max_new_tokens=8",
                   "rewards.weights={'profile': 0.3, 'task_pairwise': 0.7, 'sim_task': 0.5}")
    c.retries = 1
    c.backoff_s = 1.0
    c.local.update(dict(num_processes=2, cpu_devices_per_process=4, platform="cpu"))
    return c
