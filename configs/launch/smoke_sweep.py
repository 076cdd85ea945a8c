"""A two-point sweep over the smoke run's seed, each point a short data + SFT run on this machine.

    python -m launch --config configs/launch/smoke_sweep.py --config.workdir=/tmp/smoke-sweep

Runs on: 2 CPU cores, about 1 minute (two points of 30 sim personas and 2 SFT steps each).
Expected: WORKDIR/seed=0 and WORKDIR/seed=1, and WORKDIR/sweep_summary.{md,json} with each
point's last SFT step and loss (about ln 512 = 6.2 this early).
"""
from launch.config import launch_config


def get_config():
    c = launch_config()
    c.name = "smoke-sweep"
    c.experiment = "configs/smoke_cpu.py"
    c.workdir = "/tmp/personax-smoke-sweep"
    c.overrides = ("stages=data,sft", "progress=false", "data.datagen.num_personas=20",
                   "data.splits=sft=8,rl=8,eval=4", "sft.steps=2", "sft.checkpoint_every=2")
    c.retries = 0
    c.local.update(dict(num_processes=1, cpu_devices_per_process=1, platform="cpu"))
    c.sweep.update(dict(grid=(("seed", (0, 1)),), stage="sft", metrics=("loss", "grad_norm")))
    return c
