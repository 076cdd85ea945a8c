"""WORKDIR/report/report.md: the table of every method with intervals, plots beside it."""
from __future__ import annotations

import pathlib
from typing import Sequence

from personax.eval.stats import heldout_reward_formula
from personax.train.metrics import read_metrics

SIM_NOTE = ("**Sim world.** The {roles} {verb} the procedural sim world's, so these numbers describe the sim "
            "world only (how well a method steers the sim deployed model toward traits the sim judges check "
            "exactly), not any real LLM.")


def ci(s: dict, digits: int = 2) -> str:
    if s["mean"] is None:
        return "–"
    return f"{s['mean']:.{digits}f} [{s['lo']:.{digits}f}, {s['hi']:.{digits}f}]"


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.0f}%"


def results_table(methods: dict[str, dict]) -> list[str]:
    rows = ["| method | n | personalization | Δ personalization | task | Δ task | win | tie | lose |",
            "|---|---|---|---|---|---|---|---|---|"]
    for name, m in methods.items():
        rows.append(f"| {name} | {m['n']} | {ci(m['personalization'])} | {ci(m['delta_personalization'])} | "
                    f"{ci(m['task'])} | {ci(m['delta_task'])} | {ci(m['win'])} | {_pct(m['tie']['mean'])} | "
                    f"{ci(m['lose'])} |")
    return rows


def stages_table(summary: dict) -> list[str]:
    """The GRPO reward's judged terms on held-out states per PPOpt stage, and each stage's paired gain."""
    policies = {k: m for k, m in summary["methods"].items() if "reward" in m}
    if not policies:
        return []
    w = summary.get("reward_weights", {})
    rows = ["## PPOpt stages: held-out reward", "",
            f"R = {heldout_reward_formula(w)} (win: against the original query's answer): the training "
            "reward's judged terms, on held-out states.", "",
            "| method | profile (1-5) | win | R |", "|---|---|---|---|"]
    rows += [f"| {k} | {ci(m['profile'])} | {ci(m['win'])} | {ci(m['reward'], 3)} |" for k, m in policies.items()]
    gains = summary.get("stage_gains", {})
    if gains:
        rows += ["", "Paired gains (same states, after − before):", "",
                 "| stages | Δ personalization | Δ task | Δ profile | Δ R |", "|---|---|---|---|---|"]
        rows += [f"| {pair.replace('->', ' → ')} | {ci(g['personalization'])} | {ci(g['task'])} | "
                 f"{ci(g['profile'])} | {ci(g['reward'], 3)} |" for pair, g in gains.items()]
    return rows + [""]


def health_table(methods: dict[str, dict]) -> list[str]:
    header = ("| method | answer words | prompt words | fallback | no PROMPT tag | distinct 4-grams | answer failed | "
              "judge failed (pers / task / pairwise) |")
    rows = [header, "|---|---|---|---|---|---|---|---|"]
    for name, m in methods.items():
        judge = " / ".join(_pct(m[f"{k}_judge_failed_rate"]) for k in ("personalization", "task", "pairwise"))
        rows.append(f"| {name} | {m['answer_words'] or 0:.0f} | {m['prompt_words'] or 0:.0f} | "
                    f"{_pct(m['fallback_rate'])} | {_pct(m['no_prompt_tag_rate'])} | "
                    f"{_pct(m.get('distinct_4grams'))} | {_pct(m['answer_failed_rate'])} | {judge} |")
    return rows


def _cut(text: str | None, limit: int) -> str:
    return (text or "").replace("\n", " ")[:limit]


def _example(by_method: dict[str, Sequence[dict]], limit: int = 400) -> list[str]:
    first = by_method["original"][0]["state_id"] if by_method.get("original") else None
    lines = [f"## One state, every method (`{first}`; prompts and answers cut to {limit} characters)", ""]
    for name, items in by_method.items():
        item = next((i for i in items if i["state_id"] == first), None)
        if item is None:
            continue
        shares = item.get("outcomes")
        versus = ", ".join(f"{o} {v:.2f}" for o, v in shares.items() if v) if shares else "–"
        title = (f"**{name}** (personalization {item.get('personalization')}, task {item.get('task')}, "
                 f"vs original: {versus})")
        lines += [title, "", f"> prompt: {_cut(item['prompt'], limit)}", ">",
                  f"> answer: {_cut(item.get('answer'), limit)}", ""]
    return lines


def write_report(summary: dict, by_method: dict[str, Sequence[dict]], workdir: pathlib.Path, plots: bool = True
                 ) -> pathlib.Path:
    out = workdir / "report"
    out.mkdir(parents=True, exist_ok=True)
    methods = summary["methods"]
    conf = summary.get("confidence", 0.95)
    n, personas = summary["n_examples"], summary.get("n_personas", summary["n_examples"])
    over = "states" if personas == n else "personas, each drawn with all its states"
    intro = (f"{n} held-out states of {personas} personas (split `{summary['split']}`). Every answer is judged on "
             "its own: strict personalization 1-10 against the true persona, lenient task completion 1-10 against "
             "the **original** query; Δ = paired difference to the original query's answer on the same state. "
             "Pairwise: the judge compares each answer with the original query's answer in both A/B orders; "
             f"win or lose only when both orders agree. Brackets: {conf:.0%} bootstrap intervals over {over}.")
    k = summary.get("answers_per_prompt", 1)
    if k > 1:
        intro += (f" Each prompt gets {k} answers (deployed sample indices 0-{k - 1}), each judged: a state's scores "
                  f"are their means, its win / tie / lose the shares of its {k} comparisons (answer k against the "
                  "original query's answer k); the example below shows the first answer.")
    lines = ["# Evaluation report", "", intro, ""]
    if summary["sim"]:
        roles = " and ".join(f"{r} LLM" if r == "deployed" else "judges" for r in summary["sim"])
        verb = "are" if len(summary["sim"]) > 1 or roles == "judges" else "is"
        lines += [SIM_NOTE.format(roles=roles, verb=verb), ""]
    lines += ["## Results", "", *results_table(methods), "", *stages_table(summary),
              "## Health", "", *health_table(methods), ""]
    if summary["skipped"]:
        lines += ["## Skipped methods", ""] + [f"- `{k}`: {v}" for k, v in summary["skipped"].items()] + [""]
    if summary["judge_stats"]:
        lines += ["Judge calls: " + ", ".join(f"{k} {v}" for k, v in sorted(summary["judge_stats"].items())), ""]
    if plots:
        lines += _plots(summary, by_method, workdir, out, conf)
    if "robustness" in summary:
        from personax.eval.report_robustness import robustness_section
        lines += robustness_section(summary["robustness"], out, conf, plots)
    lines += _example(by_method)
    path = out / "report.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _plots(summary: dict, by_method, workdir: pathlib.Path, out: pathlib.Path, conf: float) -> list[str]:
    from personax.eval import plots as P
    lines = ["## Plots", ""]
    made = [("Score distributions (box: quartiles; triangle: mean)",
             P.score_distributions(by_method, out / "scores.png"))]
    if len(summary["methods"]) > 1:
        made += [("Deltas vs the original query", P.deltas(summary["methods"], out / "deltas.png", conf)),
                 ("Pairwise outcomes", P.outcomes(summary["methods"], out / "outcomes.png"))]
    curves = P.training_curves(read_metrics(workdir / "sft"), read_metrics(workdir / "grpo"), out / "training.png")
    if curves is not None:
        made.append(("Training curves (WORKDIR/sft and WORKDIR/grpo metrics.jsonl)", curves))
    for title, path in made:
        lines += [f"### {title}", "", f"![{title}]({path.name})", ""]
    return lines
