import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from personax.models import registry  # noqa: F401
from personax.models.config import get_config
from personax.models.transformer import DecoderLM, causal_mask, positions_from_valid
from personax.sampler import SamplingParams, filter_logits, generate, left_pad

PROMPTS = [[5, 6, 7, 8, 9, 10, 11], [3, 4, 5]]


@pytest.fixture(scope="module")
def model():
    return DecoderLM(get_config("tiny-gemma3"), nnx.Rngs(0))


def _naive_greedy(model, prompt, n):
    """Full forward over the whole sequence at every step, no cache. Right padding to a fixed
    length keeps one compilation: under a causal mask later slots cannot affect earlier ones."""
    graphdef, state = nnx.split(model)
    length = len(prompt) + n

    @jax.jit
    def all_logits(tokens_1xL):
        v = jnp.ones_like(tokens_1xL, bool)
        return nnx.merge(graphdef, state)(tokens_1xL, positions_from_valid(v), causal_mask(v))[0][0]

    seq, logps = list(prompt), []
    for _ in range(n):
        logits = all_logits(jnp.asarray([seq + [0] * (length - len(seq))]))[len(seq) - 1]
        nxt = int(jnp.argmax(logits))
        logps.append(float(jax.nn.log_softmax(logits)[nxt]))
        seq.append(nxt)
    return seq[len(prompt):], logps


def test_greedy_batch_matches_one_prompt_at_a_time_without_cache(model):
    graphdef, state = nnx.split(model)
    tokens, valid = left_pad(PROMPTS)
    out = generate(graphdef, state, tokens, valid, jax.random.key(0), SamplingParams(max_new_tokens=8, greedy=True))
    for i, prompt in enumerate(PROMPTS):
        expected, logps = _naive_greedy(model, prompt, 8)
        assert out.tokens_NxM[i].tolist() == expected
        np.testing.assert_allclose(out.logprobs_NxM[i], logps, atol=1e-5)
    assert out.lengths_N.tolist() == [8, 8] and not out.stopped_N.any()


def test_stop_tokens_end_rows_and_pad_after(model):
    graphdef, state = nnx.split(model)
    tokens, valid = left_pad(PROMPTS)
    free, _ = _naive_greedy(model, PROMPTS[0], 8)
    stop = free[3]
    out = generate(graphdef, state, tokens, valid, jax.random.key(0),
                   SamplingParams(max_new_tokens=8, greedy=True, stop_ids=(stop,)))
    row = out.tokens_NxM[0].tolist()
    k = free.index(stop)
    assert row[:k + 1] == free[:k + 1] and all(t == 0 for t in row[k + 1:])
    assert int(out.lengths_N[0]) == k + 1 and bool(out.stopped_N[0])
    assert float(jnp.abs(out.logprobs_NxM[0, k + 1:]).sum()) == 0.0


def test_group_samples_share_prefill_and_are_deterministic(model):
    graphdef, state = nnx.split(model)
    tokens, valid = left_pad(PROMPTS)
    p = SamplingParams(max_new_tokens=6, temperature=0.7, top_p=0.9, top_k=50, num_samples=4)
    a = generate(graphdef, state, tokens, valid, jax.random.key(1), p)
    b = generate(graphdef, state, tokens, valid, jax.random.key(1), p)
    c = generate(graphdef, state, tokens, valid, jax.random.key(2), p)
    assert a.tokens_NxM.shape == (8, 6)
    np.testing.assert_array_equal(a.tokens_NxM, b.tokens_NxM)
    assert not np.array_equal(a.tokens_NxM, c.tokens_NxM)
    assert len({tuple(r) for r in np.asarray(a.tokens_NxM[:4])}) > 1  # the G samples differ
    # Reported log-probs are those of the temperature-scaled model distribution.
    for row, prompt in [(0, PROMPTS[0]), (5, PROMPTS[1])]:
        seq = jnp.asarray([prompt + a.tokens_NxM[row].tolist()])
        v = jnp.ones_like(seq, bool)
        logits = model(seq, positions_from_valid(v), causal_mask(v))[0][0, len(prompt) - 1:-1] / 0.7
        lp = jnp.take_along_axis(jax.nn.log_softmax(logits), a.tokens_NxM[row][:, None], 1)[:, 0]
        np.testing.assert_allclose(a.logprobs_NxM[row], lp, atol=1e-4)


def test_top_p_and_top_k_filters():
    logits = jnp.log(jnp.array([[0.5, 0.3, 0.15, 0.05]]))
    kept = lambda x: (np.asarray(x) > -1e30).tolist()[0]
    assert kept(filter_logits(logits, 0.8, 0)) == [True, True, False, False]
    assert kept(filter_logits(logits, 0.81, 0)) == [True, True, True, False]
    assert kept(filter_logits(logits, 0.1, 0)) == [True, False, False, False]
    assert kept(filter_logits(logits, 1.0, 3)) == [True, True, True, False]


def _nucleus_by_sort(logits, top_p):
    """The rule written the direct way: sort, keep a token while the mass strictly before it is < top_p."""
    kept = np.zeros(logits.shape, bool)
    for n, row in enumerate(logits.astype(np.float64)):
        order = np.argsort(-row, kind="stable")
        probs = np.exp(row - row.max())[order] / np.exp(row - row.max()).sum()
        cutoff = row[order][(np.cumsum(probs) - probs) < top_p].min()
        kept[n] = row >= cutoff
    return kept


@pytest.mark.parametrize("top_p", [0.3, 0.9, 0.99])
def test_the_nucleus_matches_a_sort_on_vocabulary_sized_rows(top_p):
    rng = np.random.default_rng(7)
    logits = (rng.standard_normal((6, 49152)) * np.array([[0.5], [2], [4], [8], [20], [60]])).astype(np.float32)
    logits[1, :100] = logits[1].max()  # a tie at the top spanning the nucleus
    logits[2, ::3] = np.finfo(np.float32).min  # masked by top-k before top-p
    got = np.asarray(filter_logits(jnp.asarray(logits), top_p, 0)) > -1e30
    want = _nucleus_by_sort(logits, top_p)
    np.testing.assert_array_equal(got, want)
    assert want[4].sum() < want[0].sum()  # peaked rows keep fewer tokens: the rows differ in kind


def test_prompt_longer_than_cache_is_a_clear_error(model):
    graphdef, state = nnx.split(model)
    tokens, valid = left_pad([[1] * 250])
    with pytest.raises(ValueError, match=r"250 tokens \+ max_new_tokens=10 = 260 exceeds the model's max_seq_len=256"):
        generate(graphdef, state, tokens, valid, jax.random.key(0), SamplingParams(max_new_tokens=10))


def test_bad_sampling_params():
    with pytest.raises(ValueError, match="temperature"):
        SamplingParams(temperature=0.0)
    with pytest.raises(ValueError, match="top_p"):
        SamplingParams(top_p=1.5)
    with pytest.raises(ValueError, match="at least one token"):
        left_pad([[1, 2], []])
