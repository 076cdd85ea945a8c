"""A directory in PrefEval's layout -> PPOpt states, each with its aligned-first MCQ options.

Layout: `<root>/explicit_preference/<topic>.json` ({preference, question}),
`<root>/implicit_choice_based/<topic>.json` (adds `conversation`: the user's choice among options) and
`<root>/mcq_options/<topic>.json` ({question, classification_task_options}, option 0 the aligned one),
each a JSON list whose i-th entries are the same item. Topics are the files present.
"""
from __future__ import annotations

import dataclasses
import json
import pathlib
import random
from typing import Sequence

from personax.data.examples import PPOptExample
from personax.data.fields import Fields
from personax.data.state import build_state, render_session

FORM_DIRS = {"explicit": "explicit_preference", "implicit": "implicit_choice_based"}
MCQ_DIR = "mcq_options"
N_OPTIONS = 4


@dataclasses.dataclass(frozen=True)
class PrefEvalItem:
    form: str  # "explicit" | "implicit"
    topic: str
    index: int  # position in the topic's files
    example: PPOptExample  # persona = {"preference": ...}: for the oracle method and the judge
    options: tuple[str, ...]  # option 0 is the preference-aligned one

    @property
    def preference(self) -> str:
        return self.example.persona["preference"]


def _read_list(path: pathlib.Path) -> list:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: not a readable JSON file ({err})") from None
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of items, got {type(data).__name__}")
    return data


def _history(form: str, f: Fields) -> tuple[str, ...]:
    """The turns that reveal the preference, as one past session in the state's own format."""
    if form == "explicit":  # the user states it; the assistant's reply is hidden like every reply
        return (render_session([("user", f.text("preference", nonempty=True)), ("assistant", "")]),)
    c = f.sub("conversation")
    return (render_session([("user", c.text("query", nonempty=True)), ("assistant", c.text("assistant_options")),
                            ("user", c.text("user_selection", nonempty=True)),
                            ("assistant", c.text("assistant_acknowledgment", optional=True) or "")]),)


def _options(f: Fields) -> tuple[str, ...]:
    options = f.strings("classification_task_options")
    if len(options) != N_OPTIONS or not all(o.strip() for o in options):
        raise f.error("classification_task_options", f"expected {N_OPTIONS} non-empty options (the aligned one "
                                                     f"first), got {len(options)}")
    return tuple(options)


def topics_in(root: pathlib.Path, forms: Sequence[str]) -> list[str]:
    """Topics present for every asked form and for the MCQ options."""
    dirs = [root / FORM_DIRS[form] for form in forms] + [root / MCQ_DIR]
    missing = [str(d) for d in dirs if not d.is_dir()]
    if missing:
        raise ValueError(f"{root}: not in PrefEval's layout; missing {missing}")
    names = [{p.stem for p in d.glob("*.json")} for d in dirs]
    return sorted(set.intersection(*names))


def pick_indices(topic: str, n_items: int, per_topic: int, seed: int) -> list[int]:
    """A seeded order of the topic's items, cut to `per_topic` (0 = all): a larger `per_topic` keeps
    every earlier pick, and both forms get the same items (they share their questions)."""
    order = list(range(n_items))
    random.Random(f"{seed}:{topic}").shuffle(order)
    return sorted(order[:per_topic] if per_topic > 0 else order)


def load_prefeval(root: str | pathlib.Path, forms: Sequence[str] = ("explicit", "implicit"),
                  topics: Sequence[str] = (), per_topic: int = 0, seed: int = 0) -> list[PrefEvalItem]:
    root = pathlib.Path(root)
    unknown = [f for f in forms if f not in FORM_DIRS]
    if unknown or not forms:
        raise ValueError(f"prefeval forms must be a non-empty subset of {sorted(FORM_DIRS)}, got {list(forms)}")
    present = topics_in(root, forms)
    absent = [t for t in topics if t not in present]
    if absent:
        raise ValueError(f"prefeval topics {absent} are not in {root} (have {present})")
    items = []
    for topic in topics or present:
        mcq_path = root / MCQ_DIR / f"{topic}.json"
        mcq = _read_list(mcq_path)
        paths = {form: root / FORM_DIRS[form] / f"{topic}.json" for form in forms}
        per_form = {form: _read_list(path) for form, path in paths.items()}
        for form, records in per_form.items():
            if len(records) != len(mcq):
                raise ValueError(f"{paths[form]} has {len(records)} items but {mcq_path} has {len(mcq)}; "
                                 "the i-th entries must be the same item")
        for index in pick_indices(topic, len(mcq), per_topic, seed):
            m = Fields(mcq[index], f"{mcq_path}[{index}]")
            options = _options(m)
            for form, records in per_form.items():
                items.append(_item(form, topic, index, Fields(records[index], f"{paths[form]}[{index}]"), m, options))
    return items


def _item(form: str, topic: str, index: int, f: Fields, mcq: Fields, options: tuple[str, ...]) -> PrefEvalItem:
    question = f.text("question", nonempty=True)
    if question.strip() != mcq.text("question", nonempty=True).strip():
        raise f.error("question", f"differs from {mcq.where}'s question; the files' i-th entries must be "
                                  "the same item")
    history = _history(form, f)
    example = PPOptExample(state_id=f"{form}/{topic}/{index}", persona_id=f"prefeval/{topic}/{index}",
                           persona={"preference": f.text("preference", nonempty=True)}, history_texts=history,
                           original_query=question, input=build_state(history, question))
    return PrefEvalItem(form, topic, index, example, options)
