"""The PPOpt state text (byte-exact against the authors' files) and the policy output parser."""
import json

import pytest

from personax.data.policy_io import count_statuses, format_target, parse_output
from personax.data.state import PLACEHOLDER, build_state, parse_state, render_session


def jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def rl_states(shared_data):
    return jsonl(shared_data / "ppopt_official" / "rl_states.sample.jsonl")


@pytest.fixture(scope="module")
def sft_items(shared_data):
    return jsonl(shared_data / "ppopt_official" / "sft_train.sample.jsonl")


def test_state_text_is_byte_identical_on_all_40_rl_states(rl_states):
    assert len(rl_states) == 40
    for s in rl_states:
        rebuilt = build_state(s["history_texts"], s["original_query"])
        assert rebuilt.encode("utf-8") == s["input"].encode("utf-8"), s["state_id"]


def test_state_text_parses_back(rl_states, sft_items):
    for s in rl_states:
        assert parse_state(s["input"]) == (s["history_texts"], s["original_query"])
    for item in sft_items:
        history, query = parse_state(item["input"])
        assert build_state(history, query) == item["input"] and len(history) == 4
    assert parse_state("not a state") is None
    assert parse_state(rl_states[0]["input"].replace("## Current Query", "## Query")) is None


def test_render_session_matches_the_authors_history_layout(rl_states):
    # Recover the user messages of an authors' session and render them as a conversation again.
    text = rl_states[0]["history_texts"][0]
    users = [b.removesuffix("\n" + PLACEHOLDER) for b in text[len("User: "):].split("\n\nUser: ")]
    assert len(users) == 3
    turns = [t for u in users for t in (("user", u), ("assistant", "reply"))]
    assert render_session(turns) == text


def test_render_session_unanswered_last_message_has_no_placeholder():
    assert render_session([("user", "a"), ("assistant", "x"), ("user", "b")]) == \
        f"User: a\n{PLACEHOLDER}\n\nUser: b"
    with pytest.raises(ValueError, match="turn 1 is 'user'"):
        render_session([("user", "a"), ("user", "b")])


def test_build_state_needs_history():
    with pytest.raises(ValueError, match="at least one history session"):
        build_state([], "q")


def test_format_target_matches_the_authors_outputs(sft_items):
    for item in sft_items:
        parsed = parse_output(item["output"], "unused")
        assert parsed.status == "ok"
        assert format_target(parsed.reasoning, parsed.prompt) == item["output"]


@pytest.mark.parametrize("text, reasoning, prompt, status", [
    ("<REASONING>r</REASONING><PROMPT>p</PROMPT>", "r", "p", "ok"),
    ("<reasoning>\n r \n</Reasoning>\n<Prompt>\n p \n</PROMPT>", "r", "p", "ok"),
    ("<REASONING>r</REASONING><PROMPT>cut off mid", "r", "cut off mid", "ok"),
    ("just a rewrite", "", "just a rewrite", "no_prompt_tag"),
    ("<REASONING>r</REASONING><PROMPT>  </PROMPT>", "r", "ORIG", "empty"),
    ("   ", "", "ORIG", "empty"),
])
def test_parse_output(text, reasoning, prompt, status):
    parsed = parse_output(text, "ORIG")
    assert (parsed.reasoning, parsed.prompt, parsed.status) == (reasoning, prompt, status)


def test_parse_statuses_are_counted():
    outs = [parse_output(t, "q") for t in ("<PROMPT>a</PROMPT>", "b", "", "<prompt></prompt>")]
    assert count_statuses(outs) == {"ok": 1, "no_prompt_tag": 1, "empty": 2}
