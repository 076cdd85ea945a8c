"""A real OpenAI-compatible chat server on 127.0.0.1, with scripted or random fault injection.

    with LocalChatServer(responder=lambda req: "hi", faults=FaultPlan(script=["rate_limit"])) as srv:
        client = HostedChatClient(base_url=srv.base_url, ...)

Serves POST /v1/chat/completions and GET /v1/models from a thread pool, so it sees real
concurrency. Token counts in `usage` are whitespace word counts, not a real tokenizer's.
Run standalone for benchmarks: `python -m personax.llm.local_server --port 8000 --fault-rate 0.3`.
"""
from __future__ import annotations

import argparse
import collections
import dataclasses
import http.server
import json
import logging
import sys
import threading
import time
from typing import Any, Callable, Sequence

# Re-exported: tests and other packages build fault plans from here.
from personax.llm.faults import FAULTS, FaultPlan  # noqa: F401

log = logging.getLogger(__name__)

Responder = Callable[[dict[str, Any]], str]


def echo_responder(request: dict[str, Any]) -> str:
    users = [m.get("content", "") for m in request.get("messages", []) if m.get("role") == "user"]
    return f"echo: {users[-1] if users else ''}"


def word_count(text: Any) -> int:
    return len(str(text).split())


@dataclasses.dataclass
class ServerStats:
    requests: int = 0  # chat-completion requests received
    ok: int = 0  # answered normally
    in_flight: int = 0
    max_in_flight: int = 0
    faults: collections.Counter = dataclasses.field(default_factory=collections.Counter)


class _HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog of 5 drops connections when many clients connect at once,
    # and a dropped SYN costs the client a 1 s retransmit: a spurious "timeout".
    request_queue_size = 256

    def handle_error(self, request, client_address):
        # A client that gives up (its timeout, an injected disconnect) resets the connection: that is
        # the scenario under test, not a server error worth a traceback on stderr.
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


class LocalChatServer:
    def __init__(self, responder: Responder = echo_responder, *, faults: FaultPlan | None = None,
                 latency_s: float = 0.0, retry_after_s: float = 0.05, hang_s: float = 30.0,
                 api_key: str | None = None, models: Sequence[str] = ("local-echo",),
                 port: int = 0, keep_requests: bool = True):
        self.responder = responder
        self.faults = faults or FaultPlan()
        self.latency_s, self.retry_after_s, self.hang_s = latency_s, retry_after_s, hang_s
        self.api_key = api_key  # if set, requests must carry "Authorization: Bearer <api_key>"
        self.models = tuple(models)
        self.stats = ServerStats()
        self.received: list[dict[str, Any]] = []  # request bodies, for tests to inspect
        self._keep_requests = keep_requests
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = _HTTPServer(("127.0.0.1", port), _make_handler(self))
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> "LocalChatServer":
        if self._thread is not None:  # `with LocalChatServer(...).start()` starts it only once
            return self
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="local-chat-server",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # releases handlers held by latency or a timeout fault
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> "LocalChatServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _enter(self, body: dict[str, Any]) -> str | None:
        with self._lock:
            self.stats.requests += 1
            self.stats.in_flight += 1
            self.stats.max_in_flight = max(self.stats.max_in_flight, self.stats.in_flight)
            if self._keep_requests:
                self.received.append(body)
            fault = self.faults.next()
            if fault is not None:
                self.stats.faults[fault] += 1
            return fault

    def _leave(self, ok: bool) -> None:
        with self._lock:
            self.stats.in_flight -= 1
            self.stats.ok += ok

    def completion_body(self, request: dict[str, Any], content: str) -> dict[str, Any]:
        prompt_tokens = sum(word_count(m.get("content", "")) for m in request.get("messages", []))
        completion_tokens = word_count(content)
        return {
            "id": f"chatcmpl-local-{self.stats.requests}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.get("model", self.models[0]),
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        }


@dataclasses.dataclass(frozen=True)
class _Reply:
    status: int
    payload: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = dataclasses.field(default_factory=dict)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> _Reply:
    body = {"error": {"message": message, "type": "local_server_error", "code": status}}
    return _Reply(status, json.dumps(body).encode(), headers=headers or {})


def _reply_for(server: LocalChatServer, request: dict[str, Any], fault: str | None) -> _Reply | None:
    """The answer to send (None: close the connection without one)."""
    if server.latency_s and server._stopping.wait(server.latency_s):
        return None
    if fault == "disconnect":
        return None
    if fault == "rate_limit":
        return _error(429, "rate limited (injected)", {"Retry-After": f"{server.retry_after_s:g}"})
    if fault in ("server_error", "unavailable"):
        return _error(500 if fault == "server_error" else 503, f"{fault} (injected)")
    if fault == "non_json":
        return _Reply(200, b"<html><body>502 Bad Gateway</body></html>", "text/html")
    content = "" if fault == "empty" else server.responder(request)
    body = json.dumps(server.completion_body(request, content)).encode()
    if fault == "truncated":
        return _Reply(200, body[: len(body) // 2])
    return _Reply(200, body)


def _make_handler(server: LocalChatServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's connection pool expects
        timeout = 60  # idle keep-alive connections end eventually
        disable_nagle_algorithm = True  # headers and body go out in two writes: avoid a 40 ms stall

        def log_message(self, fmt: str, *args: Any) -> None:
            log.debug("local server: " + fmt, *args)

        def _send(self, reply: "_Reply") -> None:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.payload)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(reply.payload)

        def _authorized(self) -> bool:
            if server.api_key is None or self.headers.get("Authorization") == f"Bearer {server.api_key}":
                return True
            self._send(_error(401, "invalid or missing API key"))
            return False

        def do_GET(self) -> None:
            if self.path.rstrip("/") != "/v1/models":
                return self._send(_error(404, f"no route GET {self.path}"))
            if self._authorized():
                data = [{"id": m, "object": "model", "owned_by": "personax"} for m in server.models]
                self._send(_Reply(200, json.dumps({"object": "list", "data": data}).encode()))

        def do_POST(self) -> None:
            payload = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path.rstrip("/") != "/v1/chat/completions":
                return self._send(_error(404, f"no route POST {self.path}"))
            if not self._authorized():
                return
            try:
                request = json.loads(payload)
            except ValueError:
                return self._send(_error(400, "request body is not JSON"))
            fault = server._enter(request)
            if fault == "timeout":
                server._leave(False)  # a held connection is not work in flight
                server._stopping.wait(server.hang_s)
                self.close_connection = True
                return
            try:
                reply = _reply_for(server, request, fault)
            except Exception as err:  # a broken responder must not look like an injected fault
                log.exception("local server: responder failed")
                reply = _error(500, f"responder failed: {err!r}")
            # Stats are final before the client can see the answer, so tests may read them at once.
            server._leave(reply is not None and reply.status == 200 and fault is None)
            if reply is None:
                self.close_connection = True
            else:
                self._send(reply)

    return Handler


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--latency-s", type=float, default=0.0)
    parser.add_argument("--fault-rate", type=float, default=0.0, help="mixed faults, all kinds")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    server = LocalChatServer(faults=FaultPlan.mixed(args.fault_rate, args.seed),
                             latency_s=args.latency_s, port=args.port, keep_requests=False)
    with server:
        print(f"serving {server.base_url} (Ctrl-C to stop)", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
        print(json.dumps(dataclasses.asdict(server.stats), default=dict))


if __name__ == "__main__":
    main()
