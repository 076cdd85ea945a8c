"""PrefEval with the local SmolLM2-135M-Instruct as the deployed model, offline (no judge, no key).

    personax prefeval --config configs/eval/prefeval_smollm2.py --workdir /tmp/prefeval \
        --config.prefeval.policy_workdir=workdir/smollm2

The config is the PPOpt policy's own experiment config (configs/smollm2_cpu.py, so `load_policy` rebuilds
that policy from `prefeval.policy_workdir`) plus a `prefeval` section. The deployed model chooses among
each item's four shuffled options after the method's prompt (scorers `letter` and `option_logprob`).
Variants: `get_config("original")` scores only the policy-free methods (no trained workdir needed).

Runs on: 2 CPU cores, offline. Default size: 2 items per topic x 10 topics x 2 forms = 40 states.
Time, measured on 2 cores shared with other jobs (load ~10): 6 min for the policy-free methods
(original, full_history, oracle; model load and compilation included), then ~7 min for each ppopt_*
method (the policy's greedy rewrites of 40 states, 96 new tokens, batches of 8). A quiet machine is faster.
Expected: the original query carries no preference, so its accuracy sits near chance (0.25) up to the
options' own pull and the letter scorer's position bias; full_history and oracle show how far a
135M model can use a stated preference at all, the ceiling a rewrite can reach. Measured (40 states):
letter 0.20 / 0.25 / 0.25 (SmolLM2 answers "A" ~always), option_logprob 0.40 / 0.47 / 0.45 for
original / full_history / oracle, every difference inside its 95% interval; details in docs/prefeval.md. Turn the four-check judge on with `--config.prefeval.judge.enabled=True` and a hosted
endpoint in `prefeval.judge.llm` (key from the environment).
"""
import pathlib

from personax.configfile import load_config
from personax.eval.prefeval.config import get_prefeval_config

ROOT = pathlib.Path(__file__).resolve().parents[2]
POLICY_FREE = ("original", "full_history", "oracle")


def get_config(arg: str = ""):
    c = load_config(str(ROOT / "configs" / "smollm2_cpu.py"))
    c.prefeval = get_prefeval_config()
    c.prefeval.data_dir = str(ROOT.parent / "shared" / "data" / "prefeval")
    c.prefeval.policy_workdir = str(ROOT / "workdir" / "smollm2")
    c.eval.policy.batch_size = 8
    if arg == "original":
        c.prefeval.methods = POLICY_FREE
    elif arg:
        raise ValueError(f"prefeval_smollm2: unknown variant {arg!r}; known: 'original'")
    return c
