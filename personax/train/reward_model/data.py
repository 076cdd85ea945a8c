"""Preference pairs as fixed-shape arrays, and the seeded, resumable order they are drawn in."""
from __future__ import annotations

import pathlib
from typing import Sequence

import ml_collections
import numpy as np

from personax.train.reward_model.model import encode
from personax.train.reward_model.pairs import PreferencePair, read_pairs, write_pairs


def pair_arrays(tok, pairs: Sequence[PreferencePair], max_len: int) -> dict[str, np.ndarray]:
    contexts = [p.context for p in pairs]
    chosen_tokens, chosen_valid = encode(tok, contexts, [p.chosen for p in pairs], max_len)
    rejected_tokens, rejected_valid = encode(tok, contexts, [p.rejected for p in pairs], max_len)
    return {"chosen_tokens": chosen_tokens, "chosen_valid": chosen_valid, "rejected_tokens": rejected_tokens,
            "rejected_valid": rejected_valid, "weight": np.ones(len(pairs), np.float32)}


def train_indices(n: int, batch_size: int, seed: int, step: int) -> np.ndarray:
    """The rows of step `step`: a fresh seeded permutation per epoch, so any step's batch is known
    from (seed, step) alone and a resumed run draws exactly what an uninterrupted one would."""
    positions = step * batch_size + np.arange(batch_size)
    epochs, offsets = positions // n, positions % n
    perms = {e: np.random.default_rng([seed, int(e)]).permutation(n) for e in np.unique(epochs)}
    return np.asarray([perms[e][o] for e, o in zip(epochs, offsets)])


def eval_batches(arrays: dict[str, np.ndarray], batch_size: int):
    """Fixed-size batches over every row; the last is padded with weight-0 copies of row 0."""
    n = len(arrays["weight"])
    for start in range(0, n, batch_size):
        idx = np.arange(start, start + batch_size)
        batch = {k: v[np.where(idx < n, idx, 0)] for k, v in arrays.items()}
        batch["weight"] = np.where(idx < n, batch["weight"], 0.0).astype(np.float32)
        yield batch


def load_pairs(cfg: ml_collections.ConfigDict, workdir: pathlib.Path) -> list[PreferencePair]:
    """The configured pairs file, or sim pairs built once from the experiment's data splits and kept
    in `WORKDIR/reward_model/pairs.jsonl` (a resumed run reads them back)."""
    rc = cfg.reward_model
    if rc.pairs:
        return read_pairs(rc.pairs)
    kept = workdir / "reward_model" / "pairs.jsonl"
    if kept.exists():
        return read_pairs(kept)
    from personax.train.data_stage import run_data
    from personax.train.reward_model.sim_pairs import build_sim_pairs
    from personax.train.sft_run import read_examples
    paths = run_data(cfg, workdir)
    unknown = [s for s in rc.pair_splits if s not in paths]
    if unknown:
        raise ValueError(f"reward_model.pair_splits {unknown} are not data splits; the config has {sorted(paths)}")
    examples = [e for s in rc.pair_splits for e in read_examples(paths[s])]
    pairs, stats = build_sim_pairs(examples, seed=cfg.seed, **rc.sim.to_dict())
    if not pairs:
        raise ValueError(f"no sim preference pairs from {len(examples)} examples ({stats}); "
                         f"lower reward_model.sim.min_gap")
    write_pairs(kept, pairs)
    print(f"reward model: {stats.pairs} sim pairs from {stats.examples} examples ({stats.skipped} skipped); "
          f"chosen by candidate {dict(stats.chosen)}")
    return pairs
