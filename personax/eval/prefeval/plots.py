"""prefeval.png: per scorer, accuracy per method with its interval, and accuracy per topic and method."""
from __future__ import annotations

import pathlib

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def accuracy_plot(summary: dict, path: pathlib.Path) -> pathlib.Path:
    names, scorers = list(summary["methods"]), summary["scorers"]
    topics = sorted({t for m in summary["methods"].values() for s in scorers for t in m["mcq"][s]["by_topic"]})
    fig, axes = plt.subplots(len(scorers), 2, figsize=(13, (0.4 * len(names) + 2.2) * len(scorers)), squeeze=False,
                             gridspec_kw={"width_ratios": [1, 1.6]})
    for (left, right), scorer in zip(axes, scorers):
        for y, name in enumerate(names):
            s = summary["methods"][name]["mcq"][scorer]["accuracy"]
            left.errorbar(s["mean"], y, xerr=[[s["mean"] - s["lo"]], [s["hi"] - s["mean"]]], fmt="o", capsize=4)
        left.axvline(summary["chance"], color="gray", ls="--", lw=1, label="chance")
        left.set_yticks(range(len(names)), names)
        left.invert_yaxis()
        left.set_xlim(0, 1)
        left.set_title(f"MCQ accuracy ({scorer}, {summary['confidence']:.0%} CI)")
        left.legend(fontsize=7, loc="lower right")
        grid = np.array([[summary["methods"][n]["mcq"][scorer]["by_topic"].get(t, {}).get("mean", np.nan)
                          for t in topics] for n in names])
        im = right.imshow(grid, vmin=0, vmax=1, cmap="viridis", aspect="auto")
        right.set_xticks(range(len(topics)), topics, rotation=40, ha="right", fontsize=7)
        right.set_yticks(range(len(names)), names)
        right.set_title(f"accuracy per topic ({scorer})")
        fig.colorbar(im, ax=right, fraction=0.03)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
