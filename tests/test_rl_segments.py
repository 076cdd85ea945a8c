"""Segment credit: where a completion's REASONING closes, in tokens, and the per-token advantages that
leave the reasoning-only rewards out of the PROMPT's tokens."""
import types

import jax.numpy as jnp
import numpy as np
import pytest

from personax.data.policy_io import parse_output, reasoning_close_end
from personax.rewards.combine import after_reasoning
from personax.rl.advantages import compute_advantages
from personax.rl.config import credit_mode, get_grpo_config
from personax.rl.segments import reasoning_token_ends, segment_advantages
from personax.train.grpo_run import _segment_credit

PIECES = ["<REA", "SONING>", "brief", " answers", "</REASON", "ING><", "PROMPT>", "Hi", "</PROMPT>"]


def decode(ids):
    return "".join(PIECES[i] for i in ids)


@pytest.mark.parametrize("text,end", [
    ("<REASONING>a</REASONING><PROMPT>b</PROMPT>", len("<REASONING>a</REASONING>")),
    ("<reasoning>a</Reasoning>", len("<reasoning>a</Reasoning>")),
    ("x <REASONING>a</REASONING></REASONING>", len("x <REASONING>a</REASONING>")),  # the first close
    ("<REASONING>still open", None),
    ("</REASONING><REASONING>a", None),  # a close before the opening tag closes nothing
    ("no tags at all", None),
])
def test_reasoning_close_end(text, end):
    assert reasoning_close_end(text) == end
    if end is not None:  # what parse_output reads as the profile is fixed by the prefix
        assert parse_output(text[:end], "q").reasoning == parse_output(text, "q").reasoning


def test_token_ends_are_the_first_token_that_closes_the_reasoning():
    tokens_NxM = np.array([[0, 1, 2, 3, 4, 5, 6, 7, 8],   # closes with token 5 ("ING><"): 6 tokens
                           [0, 1, 2, 3, 7, 8, 0, 0, 0],   # never closes: its length
                           [0, 1, 4, 5, 6, 7, 8, 0, 0]])  # closes at token 3: 4 tokens
    ends = reasoning_token_ends(decode, tokens_NxM, [9, 6, 7])
    np.testing.assert_array_equal(ends, [6, 6, 4])


def test_segment_advantages_split_each_row_at_its_end():
    got = segment_advantages(np.array([1.0, -2.0]), np.array([0.5, 0.0]), np.array([2, 0]), 4)
    np.testing.assert_array_equal(got, [[1.0, 1.0, 0.5, 0.5], [0.0, 0.0, 0.0, 0.0]])
    assert got.dtype == np.float32
    with pytest.raises(ValueError, match="must be one per row"):
        segment_advantages(np.zeros(2), np.zeros(3), np.zeros(2, int), 4)


def test_after_reasoning_leaves_out_the_reasoning_only_terms():
    components = {"profile": np.array([1.0, 0.0]), "sim_task": np.array([0.5, np.nan]),
                  "format": np.array([1.0, 1.0]), "repetition": np.array([0.2, 0.2])}
    got = after_reasoning(components, {"profile": 0.3, "sim_task": 0.6, "format": 0.1, "repetition": 0.0})
    assert got[0] == pytest.approx(0.6 * 0.5 + 0.1) and np.isnan(got[1])


def _out(tokens_NxM, lengths_N):
    return types.SimpleNamespace(tokens_NxM=np.asarray(tokens_NxM), lengths_N=np.asarray(lengths_N),
                                 stopped_N=np.ones(len(lengths_N), bool))


def test_a_profile_only_difference_moves_only_the_reasoning_tokens():
    """A group of 4 whose rollouts differ only in their profile score: R's advantage drives the tokens
    through `</REASONING>`, and the PROMPT's tokens, which cannot change that score, get exactly 0."""
    g = get_grpo_config()
    weights = {"profile": 0.3, "sim_task": 0.7}
    components = {"profile": np.array([1.0, 0.0, 0.5, 0.25]), "sim_task": np.full(4, 0.8)}
    R_N = 0.3 * components["profile"] + 0.7 * components["sim_task"]
    valid_N = np.ones(4, bool)
    adv_N, _ = compute_advantages(jnp.asarray(R_N), 4, valid_N=jnp.asarray(valid_N))
    row = [0, 1, 2, 3, 4, 5, 6, 7, 8]
    out = _out([row, row, row, [0, 1, 2, 3, 7, 8, 0, 0, 0]], [9, 9, 9, 6])
    adv_NxM, metrics = _segment_credit(np.asarray(adv_N), components, weights, valid_N, out, types.SimpleNamespace(
        decode=lambda ids, skip_special_tokens: decode(ids)), g, 4)
    assert adv_NxM.shape == (4, 9)
    np.testing.assert_allclose(adv_NxM[:3, :6], np.repeat(np.asarray(adv_N)[:3, None], 6, 1), rtol=1e-6)
    assert (adv_NxM[:3, 6:] == 0).all()
    np.testing.assert_allclose(adv_NxM[3, :6], np.full(6, float(adv_N[3])), rtol=1e-6)  # never closed: R's
    assert metrics["after_reasoning/split_frac"] == 0.75
    assert metrics["after_reasoning/sign_agreement"] == 0.0  # A' is 0 where A is not
    assert float(metrics["after_reasoning/zero_variance_group_frac"]) == 1.0


def test_a_rewrite_difference_reaches_the_prompt_tokens():
    g = get_grpo_config()
    components = {"profile": np.zeros(4), "sim_task": np.array([1.0, 0.0, 0.0, 0.0])}
    valid_N = np.ones(4, bool)
    adv_N, _ = compute_advantages(jnp.asarray(0.7 * components["sim_task"]), 4, valid_N=jnp.asarray(valid_N))
    out = _out([[0, 1, 2, 3, 4, 5, 6, 7, 8]] * 4, [9] * 4)
    tok = types.SimpleNamespace(decode=lambda ids, skip_special_tokens: decode(ids))
    adv_NxM, metrics = _segment_credit(np.asarray(adv_N), components, {"profile": 0.3, "sim_task": 0.7}, valid_N,
                                       out, tok, g, 4)
    # With no profile difference the two totals are one scale apart: group_norm gives the same advantages.
    np.testing.assert_allclose(adv_NxM, np.repeat(np.asarray(adv_N)[:, None], 9, 1), rtol=1e-5)
    assert adv_NxM[0, 0] > 0 > adv_NxM[1, -1]
    assert metrics["after_reasoning/sign_agreement"] == 1.0


def test_credit_mode_names_the_choices():
    c = get_grpo_config()
    assert credit_mode(c) == "sequence"
    c.advantage.credit = "tokens"
    with pytest.raises(ValueError, match=r"grpo.advantage.credit='tokens': must be one of \('sequence', 'segments'\)"):
        credit_mode(c)
