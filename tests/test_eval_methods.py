"""Evaluation methods: the prompt each baseline sends to the deployed LLM, history parsing, retrieval."""
import asyncio
import json

import pytest

from personax.data.examples import PPOptExample
from personax.data.state import PLACEHOLDER, build_state, render_session
from personax.eval.config import DEFAULT_METHODS, get_eval_config
from personax.eval.history import render_history, top_k_turns, user_turns
from personax.eval.methods import MethodContext, get_method, method_names, persona_lines
from personax.eval.run import method_order
from personax.train.experiment import experiment

PERSONA = {"format_pref_primary": "table", "length_pref": "terse", "risk_posture": "risk_averse"}
SESSIONS = (render_session([("user", "How do I bake sourdough bread at home?"), ("assistant", "…"),
                            ("user", "in a table please, and keep it very short")]),
            render_session([("user", "Plan a budget trip to Lisbon."), ("assistant", "…"),
                            ("user", "What about Lisbon museums on a budget?"), ("assistant", "…")]))
QUERY = "Suggest cheap museums to visit in Lisbon."
EXAMPLE = PPOptExample(state_id="s0", persona_id="p0", persona=PERSONA, history_texts=SESSIONS,
                       original_query=QUERY, input=build_state(SESSIONS, QUERY))


class RecordingSummarizer:
    def __init__(self, reply="- likes tables", fail=False):
        self.reply, self.fail, self.requests = reply, fail, []

    async def answer(self, prompt, sample_index=0):
        self.requests.append(prompt)
        if self.fail:
            raise RuntimeError("summarizer down")
        return self.reply


def ctx_with(summarizer=None, **eval_overrides):
    cfg = experiment()
    cfg.eval = get_eval_config()
    cfg.eval.update(eval_overrides)
    return MethodContext(cfg, None, deployed=None, summarizer=summarizer or RecordingSummarizer())


def prompt_of(name, ctx=None, example=EXAMPLE):
    return asyncio.run(get_method(name).prompts([example], ctx or ctx_with()))[0]


def test_user_turns_drop_placeholders_and_keep_multiline_messages():
    session = render_session([("user", "line one\nline two"), ("assistant", "x"), ("user", "second")])
    assert user_turns(session) == ["line one\nline two", "second"]
    assert PLACEHOLDER not in render_history(SESSIONS)
    assert render_history(SESSIONS).startswith("Conversation 1:\n- How do I bake sourdough bread at home?")


def test_user_turns_read_the_official_states(shared_data):
    lines = (shared_data / "ppopt_official" / "rl_states.sample.jsonl").read_text().splitlines()
    for line in lines:
        for session in json.loads(line)["history_texts"]:
            turns = user_turns(session)
            assert turns and all(PLACEHOLDER not in t and not t.startswith("User:") for t in turns)


def test_original_full_history_and_reminder():
    assert prompt_of("original").prompt == QUERY
    full = prompt_of("full_history").prompt
    assert "in a table please, and keep it very short" in full and "Plan a budget trip to Lisbon." in full
    assert full.endswith(f"My new request:\n{QUERY}") and PLACEHOLDER not in full
    reminded = prompt_of("full_history_reminder", ctx_with(reminder="Mind my tastes.")).prompt
    assert reminded == full.replace("\n\nMy new request:", "\n\nMind my tastes.\n\nMy new request:")


def test_retrieval_keeps_the_k_most_overlapping_turns_in_conversation_order():
    turns = top_k_turns(SESSIONS, QUERY, 2)
    assert turns == ["Plan a budget trip to Lisbon.", "What about Lisbon museums on a budget?"]
    assert top_k_turns(SESSIONS, QUERY, 10) == [t for s in SESSIONS for t in user_turns(s)]
    with pytest.raises(ValueError, match="retrieval_k"):
        top_k_turns(SESSIONS, QUERY, 0)
    prompt = prompt_of("retrieval_topk", ctx_with(retrieval_k=1)).prompt
    past = "- What about Lisbon museums on a budget?"
    assert prompt == f"Some things I said to you before:\n{past}\n\nMy new request:\n{QUERY}"


def test_oracle_prepends_every_true_trait():
    assert persona_lines(PERSONA) == ["Format the answer as a table.", "Keep the answer very short.",
                                      "risk posture: risk averse"]
    prompt = prompt_of("oracle").prompt
    assert prompt.startswith("About me:\n- Format the answer as a table.\n") and prompt.endswith(f"\n\n{QUERY}")


def test_profile_summary_asks_the_summarizer_about_the_history_and_prepends_its_profile():
    summarizer = RecordingSummarizer("- wants tables\n- short answers")
    out = prompt_of("profile_summary", ctx_with(summarizer))
    assert "in a table please" in summarizer.requests[0] and QUERY not in summarizer.requests[0]
    assert out.prompt.startswith("About me (from our earlier conversations):\n- wants tables\n- short answers")
    assert out.prompt.endswith(QUERY) and out.status == "ok"


@pytest.mark.parametrize("summarizer", [RecordingSummarizer(fail=True), RecordingSummarizer(reply="  ")])
def test_profile_summary_falls_back_to_the_query_when_the_summarizer_fails(summarizer):
    out = prompt_of("profile_summary", ctx_with(summarizer))
    assert out.prompt == QUERY and out.status == "empty"


def test_registry_has_every_default_method_and_the_order_puts_the_baseline_first():
    assert set(DEFAULT_METHODS) <= set(method_names())
    cfg = experiment()
    cfg.eval = get_eval_config()
    cfg.eval.methods = ("oracle", "full_history")
    assert method_order(cfg) == ["original", "oracle", "full_history"]
    cfg.eval.methods = ("oracle", "nope")
    with pytest.raises(ValueError, match="unknown \\['nope'\\]"):
        method_order(cfg)
