"""WORKDIR/report/prefeval.md and prefeval.png: MCQ accuracy per method and topic, the judge's checks."""
from __future__ import annotations

import pathlib
from typing import Sequence

from personax.eval.prefeval.judge import CHECKS
from personax.eval.prefeval.mcq import LETTERS


def _ci(s: dict) -> str:
    return "–" if s["mean"] is None else f"{s['mean']:.2f} [{s['lo']:.2f}, {s['hi']:.2f}]"


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.0f}%"


def mcq_table(summary: dict, scorer: str) -> list[str]:
    forms = sorted({f for m in summary["methods"].values() for f in m["mcq"][scorer]["by_form"]})
    rows = [f"| method | n | accuracy | Δ vs original | shift accuracy | {' | '.join(forms)} | "
            f"chosen {'/'.join(LETTERS)} |", "|---|---|---|---|---|" + "---|" * len(forms) + "---|"]
    for name, m in summary["methods"].items():
        s = m["mcq"][scorer]
        by_form = " | ".join(f"{s['by_form'][f]['mean']:.2f}" if f in s["by_form"] else "–" for f in forms)
        shares = " ".join(_pct(x) for x in s["choice_share"])
        rows.append(f"| {name} | {m['n']} | {_ci(s['accuracy'])} | {_ci(s['delta'])} | {_ci(s['shift_accuracy'])} | "
                    f"{by_form} | {shares} |")
    return rows


def topic_table(summary: dict, scorer: str) -> list[str]:
    names = list(summary["methods"])
    topics = sorted({t for m in summary["methods"].values() for t in m["mcq"][scorer]["by_topic"]})
    rows = ["| topic | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for t in topics:
        cells = [summary["methods"][n]["mcq"][scorer]["by_topic"].get(t) for n in names]
        rows.append(f"| {t} | " + " | ".join("–" if c is None else f"{c['mean']:.2f} (n={c['n']})" for c in cells)
                    + " |")
    return rows


def prompt_table(summary: dict) -> list[str]:
    """What each method sent: length, and the policy's parse statuses (no PROMPT tag, empty = fell back)."""
    rows = ["| method | prompt words | statuses |", "|---|---|---|"]
    for name, m in summary["methods"].items():
        statuses = ", ".join(f"{k} {v}" for k, v in sorted(m["status"].items()))
        rows.append(f"| {name} | {m['prompt_words'] or 0:.0f} | {statuses} |")
    return ["## Prompts", "", *rows, ""]


def judge_table(summary: dict) -> list[str]:
    judged = {n: m["judge"] for n, m in summary["methods"].items() if "judge" in m}
    if not judged:
        return []
    checks_header = " | ".join(f"{c} ok" for c in CHECKS)
    rows = [f"| method | judged | follows | Δ vs original | undecided | {checks_header} |",
            "|---|---|---|---|---|" + "---|" * len(CHECKS)]
    for name, j in judged.items():
        checks = " | ".join(_pct(j["checks"][c]["pass_rate"]) for c in CHECKS)
        rows.append(f"| {name} | {j['n_judged']} | {_ci(j['follows'])} | {_ci(j['delta'])} | {j['undecided']} | "
                    f"{checks} |")
    stats = ", ".join(f"{k} {v}" for k, v in sorted(summary["judge_stats"].items()))
    return ["## Preference following (four checks, hosted judge)", "",
            "Follows = does not violate, acknowledges, does not hallucinate a preference, helps. A check that "
            "failed or was unreadable leaves the item undecided unless another check already failed.", "",
            *rows, "", f"Judge calls: {stats}", ""]


def write_prefeval_report(summary: dict, by_method: dict[str, Sequence[dict]], out: pathlib.Path,
                          plots: bool = True) -> pathlib.Path:
    out.mkdir(parents=True, exist_ok=True)
    conf = summary["confidence"]
    lines = ["# PrefEval", "",
             f"{summary['n_items']} states from `{summary['data_dir']}` (forms {', '.join(summary['forms'])}; "
             f"{len(summary['topics'])} topics); deployed model `{summary['deployed']}`. Multiple choice among 4 "
             f"shuffled options, one aligned with the user's preference: chance = {summary['chance']:.2f}. "
             f"Brackets: {conf:.0%} bootstrap intervals over states; Δ = paired difference to the original query "
             "on the same state. Shift accuracy: the choice is the option whose score the method's prompt raised most "
             "over the original query's, which cancels the options' own pull and the letters' prior (the original "
             "query's own is chance by construction). Chosen A/B/C/D: how often each shown position was picked "
             "(position bias); aligned at A/B/C/D: where the aligned option was shown.", ""]
    aligned = next(iter(summary["methods"].values()))["mcq"] if summary["methods"] else {}
    for scorer in summary["scorers"]:
        where = " ".join(_pct(x) for x in aligned[scorer]["aligned_share"]) if aligned else "–"
        lines += [f"## MCQ accuracy, scorer `{scorer}`", "", *mcq_table(summary, scorer), "",
                  f"Aligned option shown at {'/'.join(LETTERS)}: {where}.", "",
                  "Per topic:", "", *topic_table(summary, scorer), ""]
    lines += judge_table(summary) + prompt_table(summary)
    if summary["skipped"]:
        lines += ["## Skipped methods", ""] + [f"- `{k}`: {v}" for k, v in summary["skipped"].items()] + [""]
    if plots and summary["methods"]:
        from personax.eval.prefeval.plots import accuracy_plot
        path = accuracy_plot(summary, out / "prefeval.png")
        lines += ["## Plot", "", f"![accuracy per method and topic]({path.name})", ""]
    path = out / "prefeval.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
