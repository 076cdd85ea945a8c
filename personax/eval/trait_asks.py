"""Which traits the state shows does each method's prompt ask for (sim world only).

Per method, over an evaluation's held-out items: every gradable trait of the persona whose right
value the state itself voices (what `SimDeployed.follow_odds` reads in the full_history baseline's
prompt: a cue in the history or the query) is counted as asked in a reliable phrasing (the sim deployed model
follows it with probability >= 0.7), asked weakly (a user cue or a weak phrasing, ~0.4-0.5), asked
with a wrong value, or not asked. A rewriter beats the history baselines by turning weak cues into
reliable asks without dropping any. A second table splits the PPOpt stages' counts by whether the
policy's own profile states the trait ("label: value", as the teacher writes it): a trait lost with
the profile naming it was lost in writing the rewrite, the rest in reading the history.

    python -m personax.eval.trait_asks WORKDIR   # reads WORKDIR/report/items.jsonl, WORKDIR/data/ppopt/eval.jsonl
"""
from __future__ import annotations

import argparse
import collections
import json
import pathlib
from typing import Iterable, Mapping

from personax.data.examples import PPOptExample
from personax.eval.methods import with_history
from personax.llm.sim.deployed import Ask, SimDeployed
from personax.llm.sim.judges import SimJudges

RELIABLE = 0.7
KINDS = ("reliable", "weak", "wrong", "missing")


def evidenced(deployed: SimDeployed, judges: SimJudges, example: PPOptExample) -> list[str]:
    """The persona's gradable traits whose right value the state (history + query) asks for."""
    asks = deployed.follow_odds(with_history(example))
    persona = example.persona
    return [d for d in judges.gradable(persona) if d in asks and judges.same_phrase(d, asks[d].value, persona[d])]


def kind(judges: SimJudges, persona: Mapping[str, str], dim: str, ask: Ask | None) -> str:
    """How a prompt's ask for `dim` (None: no ask) serves the persona: one of KINDS."""
    if ask is None:
        return "missing"
    if not judges.same_phrase(dim, ask.value, persona[dim]):
        return "wrong"
    return "reliable" if ask.reliability >= RELIABLE else "weak"


def classify(deployed: SimDeployed, judges: SimJudges, persona: Mapping[str, str], dims: Iterable[str],
             prompt: str) -> collections.Counter:
    asks = deployed.follow_odds(prompt)
    return collections.Counter(kind(judges, persona, dim, asks.get(dim)) for dim in dims)


def names_in_profile(judges: SimJudges, dim: str, value: str, profile: str) -> bool:
    """Whether a profile states the trait as the teacher writes it ("label: value")."""
    trait = judges.world.traits[dim]
    return f"{trait.label}: {trait.phrase(value)}".lower() in profile.lower()


def count_asks(items: Iterable[dict], examples: Iterable[PPOptExample], by_profile: bool = False
               ) -> dict[str, collections.Counter]:
    """method -> counts of KINDS over its items (rows of an evaluation's items.jsonl). With
    `by_profile`, only the items with a profile (the PPOpt stages) count, each trait under
    "METHOD, profile names it" or "METHOD, profile does not": reading the history vs writing the ask."""
    deployed, judges = SimDeployed(), SimJudges()
    by_state = {e.state_id: e for e in examples}
    shown: dict[str, list[str]] = {}
    out: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for item in items:
        example = by_state.get(item["state_id"])
        if example is None:
            raise KeyError(f"trait_asks: item of {item.get('method')!r} names state {item['state_id']!r}, "
                           f"which is not among the {len(by_state)} held-out examples")
        if example.state_id not in shown:
            shown[example.state_id] = evidenced(deployed, judges, example)
        dims, persona = shown[example.state_id], example.persona
        if not by_profile:
            out[item["method"]] += classify(deployed, judges, persona, dims, item["prompt"])
            continue
        profile = (item.get("extra") or {}).get("profile")
        if not isinstance(profile, str):
            continue
        asks = deployed.follow_odds(item["prompt"])
        for dim in dims:
            named = "names it" if names_in_profile(judges, dim, persona[dim], profile) else "does not"
            out[f"{item['method']}, profile {named}"][kind(judges, persona, dim, asks.get(dim))] += 1
    return dict(sorted(out.items()) if by_profile else out)


def table(counts: Mapping[str, collections.Counter]) -> str:
    rows = ["| method | " + " | ".join(KINDS) + " |", "|---|" + "---|" * len(KINDS)]
    rows += [f"| {m} | " + " | ".join(str(c[k]) for k in KINDS) + " |" for m, c in counts.items()]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    from personax.train.sft_run import read_examples

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("workdir", type=pathlib.Path)
    a = ap.parse_args(argv)
    items_path = a.workdir / "report" / "items.jsonl"
    if not items_path.is_file():
        raise SystemExit(f"trait_asks: no {items_path}; run `personax eval` on this workdir first")
    items = [json.loads(line) for line in items_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    examples = read_examples(a.workdir / "data" / "ppopt" / "eval.jsonl")
    # Every item whose prompt reached the deployed model (a policy's fallback sends the original query).
    sent = [i for i in items if isinstance(i.get("prompt"), str)]
    print(table(count_asks(sent, examples)))
    print("\nPPOpt stages, by whether the profile states the trait (\"label: value\", as the teacher does):\n")
    print(table(count_asks(sent, examples, by_profile=True)))


if __name__ == "__main__":
    main()
