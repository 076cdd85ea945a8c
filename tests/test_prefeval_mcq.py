"""MCQ scoring: packed log-probs equal plain forward passes, letter and option scorers, shuffles."""
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from personax.eval.prefeval.logprobs import LogprobScorer
from personax.eval.prefeval.mcq import (LETTERS, Deployed, Question, letter_ids, mcq_text, score_questions,
                                        shuffled_order)
from personax.eval.prefeval.summary import shift_correct
from personax.models.transformer import causal_mask, positions_from_valid
from personax.train.losses import token_logprobs


@nnx.jit
def _reference(model, tokens_1xT):
    valid = jnp.ones_like(tokens_1xT, bool)
    logits, _ = model(tokens_1xT, positions_from_valid(valid), causal_mask(valid))
    return token_logprobs(logits[:, :-1], tokens_1xT[:, 1:])


def plain_logprobs(model, ids, width=64):
    """Per-token log p of ids[1:] from one plain forward pass (right padding: causal, so it changes nothing
    before it, and one compiled program serves every call)."""
    return np.asarray(_reference(model, jnp.asarray([ids + [0] * (width - len(ids))], jnp.int32)))[0, :len(ids) - 1]


def test_packed_continuations_match_separate_forward_passes(prefeval_tiny):
    model, _ = prefeval_tiny
    prompts = [[5, 9, 17, 33, 8], [40, 41]]
    conts = [[[11, 12, 13], [14]], [[20, 21], [22, 23, 24, 25], [30]]]
    got = LogprobScorer(model, pad_id=0, batch_size=2, min_len=16).continuations(prompts, conts)
    for p, cs, row in zip(prompts, conts, got):
        for c, lp in zip(cs, row):
            np.testing.assert_allclose(lp, plain_logprobs(model, p + c)[-len(c):], atol=2e-5)


def test_next_token_matches_a_plain_forward_pass_whatever_the_batch(prefeval_tiny):
    model, _ = prefeval_tiny
    rows, cands = [[5, 9, 17], [40, 41, 42, 43, 44, 45, 46, 47, 48]], [11, 12, 13, 14]
    ones = LogprobScorer(model, pad_id=0, batch_size=1, min_len=16).next_token(rows, cands)
    twos = LogprobScorer(model, pad_id=0, batch_size=2, min_len=16).next_token(rows, cands)
    np.testing.assert_allclose(ones, twos, atol=2e-5)
    for row, got in zip(rows, ones):
        expected = plain_logprobs(model, row + cands[:1])[-1]
        np.testing.assert_allclose(got[0], expected, atol=2e-5)
    with pytest.raises(ValueError, match="longer than the model's context"):
        LogprobScorer(model, pad_id=0).next_token([[1] * 600], cands)


def test_shuffles_are_seeded_permutations_shared_by_methods():
    order = shuffled_order("explicit/travel_hotel/3", 4, seed=0)
    assert sorted(order) == [0, 1, 2, 3] and order == shuffled_order("explicit/travel_hotel/3", 4, seed=0)
    positions = {shuffled_order(f"s{i}", 4, 0).index(0) for i in range(40)}
    assert positions == {0, 1, 2, 3}  # the aligned option lands everywhere


def test_scorers_choose_the_argmax_and_letters_are_single_tokens(prefeval_tiny):
    model, tok = prefeval_tiny
    deployed = Deployed(tok, LogprobScorer(model, tok.pad_id, batch_size=2))
    ids = letter_ids(deployed)
    assert len(set(ids)) == 4 and [tok.decode([i]) for i in ids] == list(LETTERS)
    q = Question("Suggest a hotel in Las Vegas.", ("quiet spa", "party pool", "casino", "nightclub"))
    assert mcq_text(q.prompt, q.options).endswith("A. quiet spa\nB. party pool\nC. casino\nD. nightclub\n\n"
                                                  "Answer with the letter of the best option only.")
    for scorer in ("letter", "option_logprob"):
        (result,) = score_questions(deployed, [q], scorer)
        assert len(result["scores"]) == 4 and result["choice"] == int(np.argmax(result["scores"]))
    (letter,) = score_questions(deployed, [q], "letter")
    row = tok.encode_chat([{"role": "user", "content": mcq_text(q.prompt, q.options)}])
    np.testing.assert_allclose(letter["scores"][2], plain_logprobs(model, row + [ids[2]])[-1], atol=1e-4)
    with pytest.raises(KeyError, match="unknown prefeval MCQ scorer 'coin'"):
        score_questions(deployed, [q], "coin")


def test_shift_choice_cancels_what_the_original_prompt_already_preferred():
    base = {"order": [2, 0, 1, 3], "mcq": {"s": {"scores": [-1.0, -3.0, -2.0, -2.5]}}}
    # the method's prompt raises option shown at B (the aligned one, original index 0) the most
    item = {"order": [2, 0, 1, 3], "mcq": {"s": {"scores": [-1.1, -1.5, -2.0, -2.5]}}}
    assert shift_correct(item, base, "s") == 1.0
    assert shift_correct({**item, "mcq": {"s": {"scores": [-0.5, -3.0, -2.0, -2.5]}}}, base, "s") == 0.0


def test_prompts_longer_than_the_context_lose_their_oldest_tokens(prefeval_tiny):
    model, tok = prefeval_tiny
    deployed = Deployed(tok, LogprobScorer(model, tok.pad_id, batch_size=1))
    long = Question("hotel " * 700 + "Which one?", ("quiet spa", "party pool", "casino", "nightclub"))
    assert len(deployed.chat_ids(long.prompt)) == 512 and len(deployed.chat_ids(long.prompt, reserve=9)) == 503
    for scorer in ("letter", "option_logprob"):
        (result,) = score_questions(deployed, [long], scorer)
        assert np.isfinite(result["scores"]).all()
