import asyncio
import threading

import jax
import pytest
from flax import nnx

from personax.llm import local_batch
from personax.llm.base import ChatRequest, Message
from personax.llm.local import LocalChatClient, LocalOptions, PromptTooLongError
from personax.models import registry  # noqa: F401
from personax.models.config import get_config
from personax.models.transformer import DecoderLM
from personax.sampler import SamplingParams, generate, left_pad
from personax.tokenizers import train_sentencepiece

TEXTS = ["The capital of France is Paris.", "Write a short poem about the sea, please.",
         "How do I sort a list in Python?", "Give me three tips for a job interview.",
         "Explain photosynthesis to a child in two sentences.", "What is 12 times 7?"] * 20


@pytest.fixture(scope="module")
def tok(tmp_path_factory):
    return train_sentencepiece(TEXTS, tmp_path_factory.mktemp("tok") / "sp.model", vocab_size=400)


@pytest.fixture(scope="module")
def model(tok):
    return DecoderLM(get_config("tiny").replace(vocab_size=tok.vocab_size), nnx.Rngs(0))


def make(model, tok, **options) -> LocalChatClient:
    return LocalChatClient(model, tok, LocalOptions(**{"batch_window_s": 0, "max_tokens": 16, **options}))


def ask(text: str, **fields) -> ChatRequest:
    return ChatRequest(messages=(Message("user", text),), model="", **fields)


def serve(client, requests):
    async def main():
        return await asyncio.gather(*(client.chat(r) for r in requests))
    return asyncio.run(main())


@pytest.fixture
def generate_calls(monkeypatch):
    calls = []

    def counting(*args, **kwargs):
        calls.append(args[2].shape)
        return generate(*args, **kwargs)
    monkeypatch.setattr(local_batch, "generate", counting)
    return calls


def test_concurrent_requests_share_generate_calls(model, tok, generate_calls):
    client = make(model, tok, max_batch=8, batch_window_s=0.2, max_tokens=12)
    requests = [ask(TEXTS[i % 6] + " Thanks!" * (i % 3), temperature=0.0) for i in range(12)]
    together = serve(client, requests)
    assert len(generate_calls) == 2 and client.stats.batches == 2 and client.stats.rows == 12
    assert sorted(s[0] for s in generate_calls) == [4, 8] and client.stats.padded_rows == 0
    assert {p for _, p in generate_calls} == {64}  # the smallest prompt bucket
    alone = [serve(client, [r])[0] for r in requests[:3]]
    assert [r.text for r in alone] == [r.text for r in together[:3]]
    assert len(generate_calls) == 5


def test_greedy_equals_a_direct_generate_call(model, tok):
    client = make(model, tok)
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": TEXTS[2]}]
    (answer,) = serve(client, [ChatRequest(tuple(Message(**m) for m in messages), "", temperature=0,
                                           max_tokens=12)])
    prompt = tok.encode_chat(messages)
    # Padded as the client pads, so this call reuses the client's compiled program.
    out = generate(*nnx.split(model), *left_pad([prompt], tok.pad_id, 64), jax.random.key(7),
                   SamplingParams(max_new_tokens=16, greedy=True, stop_ids=tuple(tok.stop_token_ids)))
    n = min(int(out.lengths_N[0]), 12)
    assert answer.text == tok.decode(out.tokens_NxM[0, :n].tolist()) and answer.text
    assert (answer.prompt_tokens, answer.completion_tokens) == (len(prompt), n)
    assert client.accounting.summary()["totals"]["completion_tokens"] == n


def test_sampled_request_is_the_same_alone_or_inside_any_batch(model, tok):
    options = dict(max_batch=8, batch_window_s=0.2, seed=3)
    client = make(model, tok, **options)
    target = ask(TEXTS[0], temperature=1.0, max_tokens=16)
    (alone,) = serve(client, [target])
    # Another row index, batch size and prompt padding (240: the bucket clipped by the context).
    others = [ask(t + " and more" * 4 * i, temperature=1.0, max_tokens=16) for i, t in enumerate(TEXTS[1:6])]
    crowd = serve(client, others[:2] + [target] + others[2:])
    assert set(client.stats.programs) == {(False, 1.0, 1.0, 1, 64, 16), (False, 1.0, 1.0, 8, 240, 16)}
    assert crowd[2].text == alone.text and len(set(r.text for r in crowd)) == 6
    again = serve(make(model, tok, **options), [target])[0]
    assert again.text == alone.text
    fresh = serve(client, [ask(TEXTS[0], temperature=1.0, max_tokens=16, sample_index=1)])[0]
    other_seed = serve(make(model, tok, seed=4), [target])[0]
    assert fresh.text != alone.text and other_seed.text != alone.text


def test_different_settings_go_to_different_batches(model, tok):
    client = make(model, tok, max_batch=16, batch_window_s=0.2)
    settings = [dict(temperature=0.0), dict(temperature=0.0, top_p=0.5), dict(temperature=1.0),
                dict(temperature=1.0, top_p=0.9), dict(temperature=0.0, max_tokens=20)]
    answers = serve(client, [ask(TEXTS[i % 6], **settings[i % 5]) for i in range(10)])
    # Greedy ignores top_p, so the first two settings share a batch.
    assert client.stats.batches == 4 and client.stats.rows == 10
    programs = client.stats.programs
    assert sorted((k[0], k[1], k[2], k[5]) for k in programs) == [
        (False, 1.0, 0.9, 16), (False, 1.0, 1.0, 16), (True, 1.0, 1.0, 16), (True, 1.0, 1.0, 32)]
    assert sum(k[3] for k in programs) == 4 + 2 + 2 + 2  # 4 greedy rows, then pairs
    assert all(a.completion_tokens <= 16 for a in answers[:2])


def test_stops_at_the_end_of_turn_token_and_returns_no_template_tokens(model, tok):
    im_end, stops = tok.token_to_id("<|im_end|>"), tuple(tok.stop_token_ids)
    messages = [{"role": "user", "content": TEXTS[3]}]
    free = generate(*nnx.split(model), *left_pad([tok.encode_chat(messages)], tok.pad_id, 64), jax.random.key(0),
                    SamplingParams(max_new_tokens=16, greedy=True, stop_ids=stops)).tokens_NxM[0].tolist()
    assert not set(free) & set(stops)
    # k > 9 so a 9-token budget cuts the same reply earlier, inside the same 16-token batch.
    k = next(i for i in range(10, 15) if free[i] not in free[:i])
    # Swapping two output columns makes <|im_end|> the argmax exactly where free[k] was.
    swapped = nnx.clone(model)
    kernel = swapped.lm_head.kernel[...]
    swapped.lm_head.kernel[...] = kernel.at[:, [free[k], im_end]].set(kernel[:, [im_end, free[k]]])
    client = make(swapped, tok, batch_window_s=0.2)
    full, cut = serve(client, [ask(TEXTS[3], temperature=0), ask(TEXTS[3], temperature=0, max_tokens=9)])
    assert full.text == tok.decode(free[:k]) and full.completion_tokens == k + 1
    assert "<|im_" not in full.text
    assert cut.text == tok.decode(free[:9]) and cut.completion_tokens == 9 and client.stats.batches == 1


def test_a_prompt_too_long_is_an_error_naming_the_numbers_or_is_cut_on_the_left(model, tok):
    strict = make(model, tok)
    long = ask(" ".join(TEXTS[:30]), temperature=0, max_tokens=40)
    n = len(tok.encode_chat([{"role": "user", "content": long.messages[0].content}]))
    assert n + 40 > 256
    with pytest.raises(PromptTooLongError, match=rf"prompt of {n} tokens \+ max_tokens=40 .* context of 256"):
        serve(strict, [long])
    cutting = make(model, tok, truncate="left")
    (answer,) = serve(cutting, [long])
    assert answer.prompt_tokens == 256 - 40 and answer.completion_tokens <= 40


@pytest.mark.parametrize("fields, message", [
    (dict(model="gpt-4o-mini"), "request for model 'gpt-4o-mini' sent to the local client serving 'local'"),
    (dict(max_tokens=256), r"max_tokens=256 must be in \[1, 256\)"),
    (dict(max_tokens=0), r"max_tokens=0"),
    (dict(top_p=1.5), r"top_p must be in \(0, 1\], got 1.5"),
])
def test_bad_requests_are_refused_before_they_queue(model, tok, fields, message):
    client = make(model, tok)
    with pytest.raises(ValueError, match=message):
        serve(client, [ChatRequest((Message("user", "hi"),), **{"model": "", **fields})])
    assert client.stats.batches == 0


def test_bad_client_settings_are_refused(model, tok, tmp_path):
    with pytest.raises(ValueError, match="truncate must be 'error' or 'left'"):
        LocalOptions(truncate="right")
    with pytest.raises(ValueError, match="max_tokens=300 leaves no room"):
        make(model, tok, max_tokens=300)
    bare = train_sentencepiece(TEXTS, tmp_path / "bare.model", vocab_size=400)
    bare.chat_template = None
    with pytest.raises(ValueError, match="has no chat template"):
        LocalChatClient(model, bare)


def test_the_sampler_runs_off_the_event_loop(model, tok, monkeypatch):
    started, loop_alive = threading.Event(), threading.Event()

    def blocking_generate(*args, **kwargs):
        started.set()
        # Were this on the loop's thread, the loop could not set `loop_alive`: the wait would time out.
        loop_alive.wait(timeout=20)
        return generate(*args, **kwargs)
    monkeypatch.setattr(local_batch, "generate", blocking_generate)
    client = make(model, tok)

    async def main():
        async def witness():
            while not started.is_set():
                await asyncio.sleep(0.001)
            loop_alive.set()
        await asyncio.gather(client.chat(ask("hi", temperature=0)), witness())
    asyncio.run(main())
    assert loop_alive.is_set() and client.stats.batches == 1


def test_a_cancelled_caller_does_not_disturb_the_batch(model, tok):
    client = make(model, tok, batch_window_s=0.2)

    async def main():
        tasks = [asyncio.create_task(client.chat(ask(t, temperature=0))) for t in TEXTS[:4]]
        await asyncio.sleep(0.01)
        tasks[1].cancel()
        return await asyncio.gather(*tasks, return_exceptions=True)
    results = asyncio.run(main())
    assert isinstance(results[1], asyncio.CancelledError)
    assert all(r.text is not None for i, r in enumerate(results) if i != 1)
    assert client.stats.rows == 3
    # A second event loop gets fresh queues and a fresh dispatcher.
    assert serve(client, [ask(TEXTS[0], temperature=0)])[0].text == results[0].text


def test_request_fills_in_the_client_defaults(model, tok):
    client = make(model, tok, name="tiny", temperature=0.3, max_tokens=9)
    r = client.request([Message("user", "hi")], module="judge", pool_key="conv-1", sample_index=2)
    assert (r.model, r.temperature, r.top_p, r.max_tokens, r.module, r.sample_index) == ("tiny", 0.3, None, 9, "judge", 2)


@pytest.mark.slow
def test_smollm2_names_the_capital_of_france():
    client = LocalChatClient.load("smollm2-135m-instruct", max_tokens=32)
    question = client.request([Message("user", "What is the capital of France?")], module="test", temperature=0)
    (answer,) = serve(client, [question])
    assert "Paris" in answer.text and "<|im_end|>" not in answer.text
    assert answer.model == "smollm2-135m-instruct" and answer.completion_tokens <= 32


def test_a_failed_batch_fails_its_callers_and_the_next_batch_runs(model, tok, monkeypatch):
    def broken(*args, **kwargs):
        monkeypatch.setattr(local_batch, "generate", generate)  # only the first call breaks
        raise RuntimeError("device lost")
    monkeypatch.setattr(local_batch, "generate", broken)
    client = make(model, tok, batch_window_s=0.2)

    async def main():
        first = await asyncio.gather(*(client.chat(ask(t, temperature=0)) for t in TEXTS[:2]),
                                     return_exceptions=True)
        return first, await client.chat(ask(TEXTS[0], temperature=0))
    first, after = asyncio.run(main())
    assert all(isinstance(e, RuntimeError) and "device lost" in str(e) for e in first)
    assert after.completion_tokens > 0 and client.stats.batches == 1


def test_a_role_config_builds_a_client_sharing_one_copy_of_the_weights(model, tok, monkeypatch):
    from personax.llm import local
    from personax.llm.config import role_config
    from personax.models import hub

    loads = []
    monkeypatch.setattr(hub, "load", lambda name, **kw: loads.append(name) or (model, model.cfg, tok))
    local._shared_weights.cache_clear()
    judge = local.client_from_role_config(role_config(models="tiny-ckpt", concurrency=4, temperature=0.0,
                                                      max_tokens=16, seed=5))
    deployed = local.client_from_role_config(role_config(models="tiny-ckpt", temperature=0.7, max_tokens=32))
    with pytest.raises(ValueError, match="max_tokens=256 leaves no room"):  # the role left it unset
        local.client_from_role_config(role_config(models="tiny-ckpt"))
    local._shared_weights.cache_clear()
    assert loads == ["tiny-ckpt"] and judge.model is deployed.model
    o = judge.options
    assert (o.name, o.max_batch, o.temperature, o.top_p, o.max_tokens, o.seed) == ("tiny-ckpt", 4, 0.0, None, 16, 5)
    assert (deployed.options.temperature, deployed.options.max_batch) == (0.7, 8)
    (answer,) = serve(judge, [judge.request([Message("user", TEXTS[0])], module="judge")])
    assert answer.model == "tiny-ckpt" and judge.accounting.summary()["by_module"]["judge"]["calls"] == 1
    with pytest.raises(ValueError, match="serves one checkpoint; models lists 2"):
        local.client_from_role_config(role_config(models="a,b"))


@pytest.mark.slow  # ~10 s: a compile for 8 fake devices
def test_a_model_sharded_on_a_mesh_gives_the_same_answers(model, tok):
    from personax.sharding import MeshConfig, make_mesh, shard_state

    # Sampled: the per-row (vmapped) path; test_sharding covers the sampler's greedy path on a mesh.
    requests = [ask(TEXTS[0], temperature=1.0), ask(TEXTS[1], temperature=1.0)]
    plain = serve(make(model, tok, batch_window_s=0.2), requests)
    sharded = nnx.clone(model)
    nnx.update(sharded, shard_state(nnx.state(sharded), make_mesh(MeshConfig(data=1, fsdp=2, tensor=4))))
    assert len(sharded.layers[0].attn.q.kernel[...].sharding.device_set) == 8
    client = make(sharded, tok, batch_window_s=0.2)
    assert [a.text for a in serve(client, requests)] == [a.text for a in plain]
    assert client.stats.batches == 1
