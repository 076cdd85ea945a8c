"""The GRPO batch hierarchy and the order of its updates.

One step samples prompts_per_step × G completions. They are split into mini-batches, one optimizer
update each; the whole batch is passed over μ times (num_iterations), so a step makes
μ × n_minibatches updates, every one against the old log-probs stored before the first. Each
mini-batch is cut into micro-batches whose gradients are accumulated (memory, not semantics).
With `share_prompt` the batches are cut at group boundaries, so each micro-batch holds whole
groups and the trainer runs each prompt once for its G completions (`personax.train.grpo`).
"""
from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class BatchHierarchy:
    prompts_per_step: int
    group_size: int  # G
    mini_batch_size: int  # completions per optimizer update
    micro_batch_size: int  # completions per forward/backward pass
    num_iterations: int = 1  # μ
    data_shards: int = 1  # a micro-batch is split over this many data-parallel devices
    share_prompt: bool = False  # micro-batches of whole groups, one prompt pass a group

    def __post_init__(self):
        for field in dataclasses.fields(self):
            if field.name == "share_prompt":
                continue
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"batch hierarchy: {field.name} must be a positive integer, got {value!r}")
        if self.group_size < 2:
            raise ValueError(f"batch hierarchy: group_size G={self.group_size} must be >= 2; a group of one "
                             "has no relative advantage and teaches nothing")
        if self.completions % self.mini_batch_size:
            raise ValueError(f"batch hierarchy: {self.prompts_per_step} prompts × G={self.group_size} = "
                             f"{self.completions} completions do not split into mini-batches of "
                             f"{self.mini_batch_size}")
        if self.mini_batch_size % self.micro_batch_size:
            raise ValueError(f"batch hierarchy: mini_batch_size {self.mini_batch_size} does not split into "
                             f"micro-batches of {self.micro_batch_size}")
        if self.micro_batch_size % self.data_shards:
            raise ValueError(f"batch hierarchy: micro_batch_size {self.micro_batch_size} does not split over "
                             f"{self.data_shards} data-parallel shards")
        if not isinstance(self.share_prompt, (bool, np.bool_)):
            raise ValueError(f"batch hierarchy: share_prompt must be a bool, got {self.share_prompt!r}")
        if self.share_prompt and self.micro_batch_size % self.group_size:
            raise ValueError(f"batch hierarchy: share_prompt needs whole groups in a micro-batch, but "
                             f"micro_batch_size {self.micro_batch_size} is not a multiple of G={self.group_size}")

    @property
    def completions(self) -> int:
        return self.prompts_per_step * self.group_size

    @property
    def minibatches_per_pass(self) -> int:
        return self.completions // self.mini_batch_size

    @property
    def micro_batches_per_update(self) -> int:
        return self.mini_batch_size // self.micro_batch_size

    @property
    def updates_per_step(self) -> int:
        return self.num_iterations * self.minibatches_per_pass


def update_schedule(h: BatchHierarchy, seed: int, step: int, shuffle: bool = True) -> np.ndarray:
    """Completion indices for every update of one step: int array [updates, micro-batches, micro size].

    Each of the μ passes is a permutation of all completions, drawn from (seed, step, pass) alone,
    so a resumed run replays the same order; with `share_prompt` a permutation of the groups, each
    group's completions kept together in sampler order. `shuffle=False` keeps sampler order."""
    if seed < 0 or step < 0:
        raise ValueError(f"update_schedule: seed and step must be >= 0, got seed={seed}, step={step}")
    passes = []
    for p in range(h.num_iterations):
        if shuffle:
            rng = np.random.default_rng(np.random.SeedSequence([seed, step, p]))
            if h.share_prompt:
                groups = rng.permutation(h.prompts_per_step)
                passes.append((groups[:, None] * h.group_size + np.arange(h.group_size)).reshape(-1))
            else:
                passes.append(rng.permutation(h.completions))
        else:
            passes.append(np.arange(h.completions))
    return np.concatenate(passes).reshape(h.updates_per_step, h.micro_batches_per_update, h.micro_batch_size)
