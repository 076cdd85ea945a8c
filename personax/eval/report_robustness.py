"""The robustness section of report.md: per sweep curve, every method's personalization at each point."""
from __future__ import annotations

import pathlib

from personax.eval.report import ci


def _cell(m: dict | None) -> str:
    if m is None:
        return "skipped"
    task = m["task"]["mean"]
    return f"{ci(m['personalization'])} · {'–' if task is None else f'{task:.1f}'}"


def curve_table(points: list[dict], methods: list[str]) -> list[str]:
    rows = ["| method | " + " | ".join(f"{p['x']:g}" for p in points) + " |", "|---" * (len(points) + 1) + "|"]
    for name in sorted({k for p in points for k in p["measured"]}):
        rows.append(f"| *{name}* | " + " | ".join(_measured(p["measured"].get(name)) for p in points) + " |")
    for m in methods:
        rows.append(f"| {m} | " + " | ".join(_cell(p["methods"].get(m)) for p in points) + " |")
    return rows


def _measured(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}"


def robustness_section(rb: dict, out: pathlib.Path, confidence: float, plots: bool) -> list[str]:
    lines = ["## Robustness", "",
             f"The first {rb['n_examples']} held-out states with their histories changed, one sweep point at a time "
             "(the query and persona stay). Cells: personalization mean "
             f"[{confidence:.0%} interval] · task mean. *Italic rows* are what each point measured: the fraction of "
             "eligible user messages noised, the sessions kept, and (sim generator) the fraction of the persona's "
             "cue-bearing traits whose cue appears in the history. Items: `report/robustness/<point>/items.jsonl`.", ""]
    for sweep, why in rb["skipped"].items():
        lines += [f"- sweep `{sweep}` skipped: {why}"]
    lines += [""] if rb["skipped"] else []
    for curve, points in rb["curves"].items():
        skipped = {m: note for p in points for m, note in p["skipped"].items()}
        lines += [f"### {curve} ({rb['x_labels'][curve]})", "", *curve_table(points, rb["methods"]), ""]
        lines += [f"- `{m}` skipped: {note}" for m, note in skipped.items()] + ([""] if skipped else [])
    if plots and rb["curves"]:
        from personax.eval.plots import robustness_curves
        png = robustness_curves(rb, out / "robustness.png", confidence)
        lines += [f"![Robustness curves]({png.name})", ""]
    return lines
