"""Pieces several test files share (imported as `helpers`: pytest puts tests/ on the path)."""
import pathlib

from personax.configfile import load_config
from personax.eval.config import get_eval_config

SMOKE = pathlib.Path(__file__).parents[1] / "configs" / "smoke_cpu.py"


def smoke_eval_config(policy_batch_size: int = 8, **eval_overrides):
    """configs/smoke_cpu.py with a fresh eval section sized for CPU tests (short policy outputs)."""
    cfg = load_config(str(SMOKE))
    cfg.progress = False
    cfg.eval = get_eval_config()
    cfg.eval.update({"bootstrap_samples": 100, "plots": False, **eval_overrides})
    cfg.eval.policy.update(max_new_tokens=8, max_prompt_len=256, batch_size=policy_batch_size)
    return cfg


class Counting:
    """Wraps a deployed LLM or judges and counts each call by name (for resume tests)."""

    def __init__(self, inner, calls):
        self._inner, self.calls = inner, calls

    def __getattr__(self, name):
        attr = getattr(self._inner, name)
        if not callable(attr):
            return attr

        async def call(*args, **kwargs):
            self.calls[name] += 1
            return await attr(*args, **kwargs)
        return call
