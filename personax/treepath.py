"""Readable names for pytree leaves: ("layers", 0, "attn", "q", "kernel") -> "layers/0/attn/q/kernel"."""
from __future__ import annotations

import jax


def path_str(keypath) -> str:
    parts = []
    for k in keypath:
        if isinstance(k, jax.tree_util.GetAttrKey) and k.name == "value":
            continue  # nnx.Variable's own wrapper, not part of the parameter's name
        for attr in ("key", "name", "idx"):
            if hasattr(k, attr):
                parts.append(str(getattr(k, attr)))
                break
        else:
            parts.append(str(k))
    return "/".join(parts)


def map_with_names(fn, tree):
    """tree_map where `fn(name, leaf)` also receives the leaf's readable name."""
    return jax.tree_util.tree_map_with_path(lambda p, x: fn(path_str(p), x), tree)
