"""Loopback stand-ins for the hosted providers a gateway forwards to (the tests cannot reach them).

``Upstream`` is a small threaded HTTP server that answers the OpenAI chat-completions API
(``POST /v1/chat/completions``, used for OpenAI and for the local vLLM, which speaks the same API)
or the Anthropic messages API (``POST /v1/messages``), both plain and streamed (SSE). Tests steer
it while it runs: ``fail_with`` (an HTTP status for every answer), ``delay`` (seconds before
answering) and the token counts it reports. It counts the calls it received and the ones it served,
and every reply names the upstream, so a client can tell who answered.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

Api = Literal["openai", "anthropic"]
STREAM_WORDS = ("alpha", "beta", "gamma", "delta", "epsilon")


@dataclass
class Upstream:
    """One stand-in provider on 127.0.0.1."""

    name: str
    api: Api = "openai"
    fail_with: int | None = None
    delay: float = 0.0
    prompt_tokens: int = 10
    completion_tokens: int = 20
    calls: int = 0
    served: int = 0
    models: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def reset(self) -> None:
        with self._lock:
            self.fail_with, self.delay, self.calls, self.served = None, 0.0, 0, 0
            self.prompt_tokens, self.completion_tokens = 10, 20
            self.models.clear()

    def start(self) -> Upstream:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _count(self, model: str) -> tuple[int | None, float]:
        with self._lock:
            self.calls += 1
            self.models.append(model)
            return self.fail_with, self.delay

    def _served(self) -> None:
        with self._lock:
            self.served += 1


@contextmanager
def running(*upstreams: Upstream) -> Iterator[tuple[Upstream, ...]]:
    """Start the upstreams; stop them however the block ends."""
    started: list[Upstream] = []
    try:
        for upstream in upstreams:
            started.append(upstream.start())
        yield upstreams
    finally:
        for upstream in started:
            upstream.stop()


def _handler(up: Upstream) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return  # quiet: thousands of calls per test

        def do_GET(self) -> None:
            self._json(200, {"object": "list", "data": [{"id": "stand-in", "object": "model"}]})

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            fail, delay = up._count(str(body.get("model", "")))
            if delay:
                time.sleep(delay)
            if fail is not None:
                self._json(fail, {"error": {"message": f"{up.name} injected {fail}",
                                            "type": "server_error"}})  # fmt: skip
                return
            wants_anthropic = self.path.rstrip("/").endswith("/messages")
            if wants_anthropic != (up.api == "anthropic"):
                self._json(404, {"error": {"message": f"{up.name}: no route {self.path}"}})
                return
            if body.get("stream"):
                self._stream(body)
            else:
                reply = _anthropic_reply(up, body) if wants_anthropic else _openai_reply(up, body)
                self._json(200, reply)
            up._served()

        def _json(self, status: int, doc: dict[str, Any]) -> None:
            raw = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def _stream(self, body: dict[str, Any]) -> None:
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("cache-control", "no-cache")
            self.send_header("connection", "close")
            self.end_headers()
            events = _anthropic_events(up, body) if up.api == "anthropic" else _openai_events(up)
            for event in events:
                self.wfile.write(event.encode())
                self.wfile.flush()
            self.close_connection = True

    return Handler


def content_of(up: Upstream) -> str:
    return f"served-by:{up.name}"


def _openai_reply(up: Upstream, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{up.name}-{up.calls}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", ""),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content_of(up)},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": up.prompt_tokens,
            "completion_tokens": up.completion_tokens,
            "total_tokens": up.prompt_tokens + up.completion_tokens,
        },
    }


def _anthropic_reply(up: Upstream, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"msg_{up.name}_{up.calls}",
        "type": "message",
        "role": "assistant",
        "model": body.get("model", ""),
        "content": [{"type": "text", "text": content_of(up)}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": up.prompt_tokens, "output_tokens": up.completion_tokens},
    }


def _sse(doc: dict[str, Any], event: str | None = None) -> str:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(doc)}\n\n"


def _openai_events(up: Upstream) -> Iterator[str]:
    words = [content_of(up), *STREAM_WORDS]
    base = {"id": f"chatcmpl-{up.name}", "object": "chat.completion.chunk", "model": "m"}
    for i, word in enumerate(words):
        text = word if i == 0 else f" {word}"
        delta = {"role": "assistant", "content": text} if i == 0 else {"content": text}
        yield _sse({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
    usage = {
        "prompt_tokens": up.prompt_tokens,
        "completion_tokens": up.completion_tokens,
        "total_tokens": up.prompt_tokens + up.completion_tokens,
    }
    yield _sse({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                "usage": usage})  # fmt: skip
    yield "data: [DONE]\n\n"


def _anthropic_events(up: Upstream, body: dict[str, Any]) -> Iterator[str]:
    message = {
        "id": f"msg_{up.name}",
        "type": "message",
        "role": "assistant",
        "model": body.get("model", ""),
        "content": [],
        "stop_reason": None,
        "usage": {"input_tokens": up.prompt_tokens, "output_tokens": 1},
    }
    yield _sse({"type": "message_start", "message": message}, "message_start")
    block = {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "text", "text": ""},
    }
    yield _sse(block, "content_block_start")
    for i, word in enumerate([content_of(up), *STREAM_WORDS]):
        delta = {"type": "text_delta", "text": word if i == 0 else f" {word}"}
        yield _sse({"type": "content_block_delta", "index": 0, "delta": delta},
                   "content_block_delta")  # fmt: skip
    yield _sse({"type": "content_block_stop", "index": 0}, "content_block_stop")
    yield _sse(
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": up.completion_tokens},
        },
        "message_delta",
    )
    yield _sse({"type": "message_stop"}, "message_stop")


def expected_stream_text(up: Upstream) -> str:
    return " ".join([content_of(up), *STREAM_WORDS])
