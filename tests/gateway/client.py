"""A small HTTP client for the proxy: one call, or many at once from a thread pool."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from tests.servers.litellm import Proxy


@dataclass(frozen=True)
class Answer:
    status: int
    body: str
    seconds: float

    def content(self) -> str:
        doc = json.loads(self.body)
        return str(doc["choices"][0]["message"]["content"])


def chat(proxy: Proxy, model: str, *, stream: bool = False, timeout: float = 30) -> Answer:
    payload: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    if stream:
        payload["stream"] = True
    request = urllib.request.Request(
        f"{proxy.base_url}/v1/chat/completions",
        data=json.dumps(payload).encode(),
        headers=proxy.headers,
    )
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read().decode()
            return Answer(int(response.status), body, time.monotonic() - started)
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, exc.read().decode(errors="replace"), time.monotonic() - started)


def chat_many(proxy: Proxy, model: str, count: int, workers: int = 16) -> list[Answer]:
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda _: chat(proxy, model), range(count)))


def stream_text(body: str) -> str:
    """The concatenated content deltas of an OpenAI-style SSE body (ends with ``[DONE]``)."""
    parts: list[str] = []
    lines = [x for x in body.splitlines() if x.startswith("data: ")]
    assert lines and lines[-1] == "data: [DONE]", body[-300:]
    for line in lines[:-1]:
        doc = json.loads(line.removeprefix("data: "))
        for choice in doc.get("choices", []):
            parts.append((choice.get("delta") or {}).get("content") or "")
    return "".join(parts)
