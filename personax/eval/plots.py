"""PNG plots for the evaluation report: score distributions, deltas with intervals, win/tie/lose,
training curves. Matplotlib with the file-only Agg backend (no display needed)."""
from __future__ import annotations

import pathlib
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

SCORES = (("personalization", "personalization (strict, 1-10)"), ("task", "task completion (lenient, 1-10)"))


def _save(fig, path: pathlib.Path) -> pathlib.Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def score_distributions(by_method: dict[str, Sequence[dict]], path: pathlib.Path) -> pathlib.Path:
    names = list(by_method)
    fig, axes = plt.subplots(1, 2, figsize=(12, 0.45 * len(names) + 1.8), sharey=True)
    for ax, (key, title) in zip(axes, SCORES):
        data = [[i[key] for i in by_method[m] if i.get(key) is not None] or [float("nan")] for m in names]
        ax.boxplot(data, orientation="horizontal", showmeans=True, widths=0.6)
        ax.set_yticks(range(1, len(names) + 1), names)
        ax.set_xlim(0.5, 10.5)
        ax.set_title(title)
        ax.grid(axis="x", alpha=0.3)
    axes[0].invert_yaxis()
    return _save(fig, path)


def deltas(methods: dict[str, dict], path: pathlib.Path, confidence: float) -> pathlib.Path:
    names = [m for m in methods if m != "original"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 0.45 * len(names) + 1.8), sharey=True)
    for ax, (key, title) in zip(axes, SCORES):
        for y, m in enumerate(names):
            s = methods[m][f"delta_{key}"]
            if s["mean"] is None:
                continue
            ax.errorbar(s["mean"], y, xerr=[[s["mean"] - s["lo"]], [s["hi"] - s["mean"]]], fmt="o", capsize=4,
                        color="tab:green" if s["lo"] > 0 else "tab:red" if s["hi"] < 0 else "tab:gray")
        ax.axvline(0, color="black", lw=0.8)
        ax.set_yticks(range(len(names)), names)
        ax.set_title(f"Δ {title.split(' (')[0]} vs original ({confidence:.0%} CI)")
        ax.grid(axis="x", alpha=0.3)
    axes[0].invert_yaxis()
    return _save(fig, path)


def outcomes(methods: dict[str, dict], path: pathlib.Path) -> pathlib.Path:
    names = [m for m in methods if m != "original"]
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(names) + 1.8))
    left = [0.0] * len(names)
    for outcome, color in (("win", "tab:green"), ("tie", "lightgray"), ("lose", "tab:red")):
        widths = [methods[m][outcome]["mean"] or 0.0 for m in names]
        ax.barh(range(len(names)), widths, left=left, color=color, label=outcome)
        left = [a + b for a, b in zip(left, widths)]
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_title("pairwise vs the original query's answer (win/lose: both A/B orders agree)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.06), ncol=3, fontsize=8, frameon=False)
    return _save(fig, path)


def training_curves(sft: list[dict], grpo: list[dict], path: pathlib.Path) -> pathlib.Path | None:
    rewards = sorted({k for row in grpo for k in row if k.startswith("reward/") and k.endswith("/mean")})
    panels = [("SFT loss", sft, ["loss"]), ("GRPO loss", grpo, ["loss"]),
              ("GRPO rewards (mean per step)", grpo, rewards), ("GRPO KL to the SFT policy", grpo, ["kl_mean"])]
    panels = [p for p in panels if any(k in row for row in p[1] for k in p[2])]
    if not panels:
        return None
    cols = min(2, len(panels))
    rows_n = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows_n, cols, figsize=(6 * cols, 3.6 * rows_n), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax, (title, rows, keys) in zip(axes.flat, panels):
        for k in keys:
            pts = [(r["step"], r[k]) for r in rows if r.get(k) is not None]
            if pts:
                ax.plot(*zip(*pts), marker="." if len(pts) < 30 else None,
                        label=k.removeprefix("reward/").removesuffix("/mean"))
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        if len(keys) > 1:
            ax.legend(fontsize=7)
    return _save(fig, path)


def robustness_curves(robustness: dict, path: pathlib.Path, confidence: float) -> pathlib.Path:
    """One panel per sweep curve: each method's personalization mean with its interval vs the swept value.
    Tick labels carry what a point measured (e.g. the fraction of traits the histories express)."""
    curves, names = robustness["curves"], robustness["methods"]
    colors = {m: plt.get_cmap("tab10")(i % 10) for i, m in enumerate(names)}
    cols = min(3, len(curves))
    rows_n = -(-len(curves) // cols)
    fig, axes = plt.subplots(rows_n, cols, figsize=(5.2 * cols, 4.0 * rows_n + 0.6), squeeze=False)
    for ax in axes.flat[len(curves):]:
        ax.set_visible(False)
    for ax, (curve, points) in zip(axes.flat, curves.items()):
        xs = [p["x"] for p in points]
        width = (max(xs) - min(xs) or 1.0) * 0.02  # methods side by side, so the intervals do not hide each other
        for i, m in enumerate(names):
            pts = [(p["x"], p["methods"][m]["personalization"]) for p in points if m in p["methods"]]
            pts = [(x, s) for x, s in pts if s["mean"] is not None]
            if not pts:
                continue
            shift = (i - (len(names) - 1) / 2) * width
            ax.errorbar([x + shift for x, _ in pts], [s["mean"] for _, s in pts],
                        yerr=[[s["mean"] - s["lo"] for _, s in pts], [s["hi"] - s["mean"] for _, s in pts]],
                        marker="o", ms=4, capsize=3, lw=1.4, color=colors[m], label=m)
        ax.set_xticks(xs, [_tick(p) for p in points], fontsize=8)
        ax.set_title(curve)
        ax.set_xlabel(robustness["x_labels"][curve], fontsize=9)
        ax.set_ylabel("personalization (1-10)", fontsize=9)
        ax.set_ylim(0.5, 10.5)
        ax.grid(alpha=0.3)
    legend = {label: h for ax in axes.flat for h, label in zip(*ax.get_legend_handles_labels())}
    fig.legend(list(legend.values()), list(legend), loc="lower center", ncol=min(6, len(legend)), fontsize=9,
               frameon=False)
    fig.suptitle(f"Robustness: personalization mean and {confidence:.0%} interval per point "
                 f"({robustness['n_examples']} states)", fontsize=11)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _tick(point: dict) -> str:
    traits = point["measured"].get("traits expressed")
    return f"{point['x']:g}" + ("" if traits is None else f"\n{traits:.0%} traits")
