"""ChatClient over a personax model run by the JAX sampler: no API, no network.

Requests from many asyncio tasks queue by sampling settings; a dispatcher task serves each queue
in batches (after `batch_window_s`, or at once when `max_batch` rows wait), one sampler call per
batch, in a worker thread so the event loop keeps running. See docs/llm_backends.md.
"""
from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import dataclasses
import functools
import time
from typing import Any

import ml_collections
import numpy as np
from flax import nnx
from jax.sharding import Mesh

from personax.llm.accounting import Accounting
from personax.llm.base import ChatRequest, ChatResponse, Message
from personax.llm.local_batch import Shape, next_pow2, padded_shape, request_words, run_batch
from personax.llm.pool import parse_models
from personax.sampler import SamplingParams
from personax.tokenizers import Tokenizer


class PromptTooLongError(ValueError):
    """A rendered prompt plus its token budget does not fit the model's context."""


@dataclasses.dataclass(frozen=True)
class LocalOptions:
    name: str = "local"  # the model name in responses and accounting; requests may name it or ""
    seed: int = 0
    max_batch: int = 16
    batch_window_s: float = 0.01
    # Defaults that `request()` fills in; `max_tokens` also serves requests that leave it None.
    temperature: float = 0.7
    top_p: float | None = None
    max_tokens: int = 256
    truncate: str = "error"  # "left": keep the last context - max_tokens prompt tokens instead
    min_prompt_bucket: int = 64

    def __post_init__(self):
        if self.max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {self.max_batch}")
        if self.batch_window_s < 0:
            raise ValueError(f"batch_window_s must be >= 0, got {self.batch_window_s}")
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {self.max_tokens}")
        if self.truncate not in ("error", "left"):
            raise ValueError(f"truncate must be 'error' or 'left', got {self.truncate!r}")


@dataclasses.dataclass
class BatchStats:
    batches: int = 0
    rows: int = 0  # real requests served
    padded_rows: int = 0  # filler rows added to reach a power-of-two batch
    # Batches per compiled program: (greedy, temperature, top_p, rows, prompt length, new tokens).
    programs: collections.Counter = dataclasses.field(default_factory=collections.Counter)


# Requests in one batch share these: (greedy, temperature, top_p, max_new_tokens bucket).
GroupKey = tuple[bool, float, float, int]


@dataclasses.dataclass
class _Pending:
    request: ChatRequest
    prompt: list[int]
    max_new: int
    words: tuple[int, int]
    future: asyncio.Future
    arrived: float


class LocalChatClient:
    """One model, any number of roles: build it once and share it (batches then mix roles)."""

    def __init__(self, model: nnx.Module, tokenizer: Tokenizer, options: LocalOptions = LocalOptions(),
                 accounting: Accounting | None = None):
        if tokenizer.chat_template is None:
            raise ValueError(f"tokenizer {tokenizer.source} has no chat template; call "
                             "tokenizer.set_chat_template(...) before serving it")
        self.model = model
        self.tokenizer = tokenizer
        self.options = options
        self.accounting = accounting if accounting is not None else Accounting()
        self.context = int(model.cfg.max_seq_len)
        if options.max_tokens >= self.context:
            raise ValueError(f"max_tokens={options.max_tokens} leaves no room for a prompt in the "
                             f"model's context of {self.context} tokens")
        self.stop_ids = tuple(tokenizer.stop_token_ids)
        self.stats = BatchStats()
        # One worker: batches reach the device one after another, in dispatch order.
        self._worker = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="personax-local")
        self._loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def load(cls, name_or_path: str, *, mesh: Mesh | None = None, dtype: str | None = None,
             accounting: Accounting | None = None, **options: Any) -> "LocalChatClient":
        """A client for a registered checkpoint name or a path that `hub.load` takes."""
        model, tokenizer = _load(name_or_path, mesh, dtype)
        return cls(model, tokenizer, LocalOptions(**{"name": str(name_or_path), **options}), accounting)

    def __repr__(self) -> str:
        return f"LocalChatClient(name={self.options.name!r}, context={self.context})"

    def close(self) -> None:
        self._worker.shutdown(wait=True)

    def request(self, messages: list[Message] | tuple[Message, ...], *, module: str,
                pool_key: str | int | None = None, **fields: Any) -> ChatRequest:
        """As HostedChatClient.request; one model, so `pool_key` changes nothing."""
        o = self.options
        defaults = dict(temperature=o.temperature, top_p=o.top_p, max_tokens=o.max_tokens)
        return ChatRequest(messages=tuple(messages), model=o.name, module=module, **{**defaults, **fields})

    async def chat(self, request: ChatRequest) -> ChatResponse:
        self._bind_loop()
        max_new = self._budget(request)
        # Long prompts take tens of ms to tokenize: off the loop, like the sampler.
        prompt = await asyncio.to_thread(self._encode, request, max_new)
        pending = _Pending(request, prompt, max_new, request_words(self.options.seed, request),
                           asyncio.get_running_loop().create_future(), time.perf_counter())
        self._queues[_group_key(request, max_new)].append(pending)
        self._wake.set()
        if self._dispatcher is None or self._dispatcher.done():
            self._dispatcher = asyncio.get_running_loop().create_task(self._dispatch())
        return await pending.future

    def _bind_loop(self) -> None:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new event loop (e.g. a second asyncio.run): fresh queues
            self._loop = loop
            self._queues: dict[GroupKey, list[_Pending]] = collections.defaultdict(list)
            self._wake = asyncio.Event()
            self._dispatcher: asyncio.Task | None = None

    def _budget(self, request: ChatRequest) -> int:
        """max_new_tokens for a request, after checking what can be checked before tokenizing."""
        o, who = self.options, request.module or "request"
        if request.model not in ("", o.name):
            raise ValueError(f"request for model {request.model!r} sent to the local client serving {o.name!r}")
        if not request.messages:
            raise ValueError(f"{who}: no messages")
        if request.top_p is not None and not 0 < request.top_p <= 1:
            raise ValueError(f"{who}: top_p must be in (0, 1], got {request.top_p}")
        max_new = o.max_tokens if request.max_tokens is None else request.max_tokens
        if not 1 <= max_new < self.context:
            raise ValueError(f"{who}: max_tokens={max_new} must be in [1, {self.context}) for a model "
                             f"with a {self.context}-token context")
        return max_new

    def _encode(self, request: ChatRequest, max_new: int) -> list[int]:
        prompt = self.tokenizer.encode_chat([{"role": m.role, "content": m.content} for m in request.messages])
        room = self.context - max_new
        if len(prompt) <= room:
            return prompt
        if self.options.truncate != "left":
            raise PromptTooLongError(
                f"{request.module or 'request'}: prompt of {len(prompt)} tokens + max_tokens={max_new} "
                f"exceeds the model's context of {self.context} tokens; shorten the prompt, lower "
                f"max_tokens, or set truncate='left'")
        return prompt[-room:]

    async def _dispatch(self) -> None:
        o = self.options
        while True:
            for key in list(self._queues):  # callers that gave up (cancelled) need no row
                self._queues[key] = [p for p in self._queues[key] if not p.future.done()]
                if not self._queues[key]:
                    del self._queues[key]
            if not self._queues:
                return
            full = [k for k, q in self._queues.items() if len(q) >= o.max_batch]
            key = full[0] if full else min(self._queues, key=lambda k: self._queues[k][0].arrived)
            wait_s = self._queues[key][0].arrived + o.batch_window_s - time.perf_counter()
            if not full and wait_s > 0:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), wait_s)
                except asyncio.TimeoutError:
                    pass
                continue
            batch = self._queues[key][:o.max_batch]
            del self._queues[key][:o.max_batch]
            await self._serve(key, batch)

    async def _serve(self, key: GroupKey, batch: list[_Pending]) -> None:
        greedy, temperature, top_p, _ = key
        o = self.options
        try:
            shape = padded_shape(len(batch), max(len(p.prompt) for p in batch), max(p.max_new for p in batch),
                                 max_batch=o.max_batch, context=self.context, min_prompt=o.min_prompt_bucket)
            params = SamplingParams(max_new_tokens=shape.new, greedy=greedy, temperature=temperature,
                                    top_p=top_p, stop_ids=self.stop_ids)
            texts = await asyncio.get_running_loop().run_in_executor(
                self._worker, self._generate, batch, params, shape)
        except Exception as err:  # the callers see it; the dispatcher goes on with other batches
            for p in batch:
                if not p.future.done():
                    p.future.set_exception(err)
            return
        self.stats.batches += 1
        self.stats.rows += len(batch)
        self.stats.padded_rows += shape.rows - len(batch)
        self.stats.programs[(greedy, temperature, top_p, shape.rows, shape.prompt, shape.new)] += 1
        now = time.perf_counter()
        for p, (text, completion_tokens) in zip(batch, texts):
            self.accounting.record_call(p.request.module, o.name, len(p.prompt), completion_tokens, now - p.arrived)
            if not p.future.done():
                p.future.set_result(ChatResponse(text, o.name, len(p.prompt), completion_tokens))

    def _generate(self, batch: list[_Pending], params: SamplingParams, shape: Shape) -> list[tuple[str, int]]:
        tokens_BxM, lengths_B = run_batch(self.model, [p.prompt for p in batch], [p.words for p in batch],
                                          params, shape, self.tokenizer.pad_id)
        return [self._text(row_M, int(length), p.max_new) for row_M, length, p in zip(tokens_BxM, lengths_B, batch)]

    def _text(self, row_M: np.ndarray, length: int, max_new: int) -> tuple[str, int]:
        """The reply without its stop token, and how many tokens were generated (a stop included)."""
        n = min(length, max_new)
        ids = row_M[:n].tolist()
        if ids and ids[-1] in self.stop_ids:
            ids = ids[:-1]
        return self.tokenizer.decode(ids, skip_special_tokens=True), n


def _load(name_or_path: str, mesh: Mesh | None = None, dtype: str | None = None) -> tuple[nnx.Module, Tokenizer]:
    from personax.models import hub

    model, _, tokenizer = hub.load(name_or_path, param_dtype=dtype, dtype=dtype, mesh=mesh)
    if tokenizer is None:
        raise ValueError(f"{name_or_path}: no tokenizer ships with these weights; build "
                         "LocalChatClient(model, tokenizer) yourself")
    return model, tokenizer


@functools.cache
def _shared_weights(name_or_path: str) -> tuple[nnx.Module, Tokenizer]:
    """One copy of each checkpoint per process, however many roles serve it."""
    return _load(name_or_path)


def client_from_role_config(role_cfg: ml_collections.ConfigDict,
                            accounting: Accounting | None = None) -> LocalChatClient:
    """A local client for one role of `llm.config.role_config()`: `models` names the one checkpoint
    (registered name or path), `concurrency` is the batch size, and the role's seed and sampling
    defaults carry over. The HTTP fields (base_url, key, retries, cache, prices) do not apply."""
    names = parse_models(role_cfg.models)
    if len(names) != 1:
        raise ValueError(f"a local role serves one checkpoint; models lists {len(names)}: "
                         f"{[n for n, _ in names]}")
    name = names[0][0]
    model, tokenizer = _shared_weights(name)
    options = LocalOptions(name=name, seed=int(role_cfg.seed), max_batch=int(role_cfg.concurrency),
                           temperature=float(role_cfg.temperature), top_p=role_cfg.top_p,
                           **({} if role_cfg.max_tokens is None else {"max_tokens": int(role_cfg.max_tokens)}))
    return LocalChatClient(model, tokenizer, options, accounting)


def _group_key(request: ChatRequest, max_new: int) -> GroupKey:
    greedy = request.temperature <= 0
    if greedy:  # top_p means nothing to argmax: all greedy requests can share a batch
        return True, 1.0, 1.0, next_pow2(max_new)
    return False, float(request.temperature), float(request.top_p or 1.0), next_pow2(max_new)
