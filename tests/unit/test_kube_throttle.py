"""Adaptive concurrency against a local HTTP server that behaves like an API server under API
Priority and Fairness: past a number of requests in flight it answers 429 with Retry-After."""

from __future__ import annotations

import email.utils
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from aiplane.providers.kubernetes.client import THROTTLED_RETRIES, ApiError, KubeClient
from aiplane.providers.kubernetes.kubeconfig import ClusterConfig
from aiplane.providers.kubernetes.throttle import MAX_PAUSE_S, Throttle, retry_after_s

CORE = {"resources": [{"name": "configmaps", "kind": "ConfigMap", "namespaced": True}]}
DISCOVERY = {"/api": {"versions": ["v1"]}, "/apis": {"groups": []}, "/api/v1": CORE}


@dataclass
class Apf:
    """Admits ``seats`` requests at a time; the others get 429 with ``retry_after``."""

    seats: int = 4
    retry_after: str = "0.25"
    work_s: float = 0.02
    url: str = ""
    in_flight: int = 0
    most_in_flight: int = 0
    served: int = 0
    rejected: list[float] = field(default_factory=list)  # when each 429 was sent
    arrived: list[float] = field(default_factory=list)  # when each admitted request arrived
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self) -> tuple[int, dict[str, str]]:
        with self.lock:
            now = time.monotonic()
            if self.in_flight >= self.seats:
                self.rejected.append(now)
                return 429, {"Retry-After": self.retry_after}
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            self.arrived.append(now)
        time.sleep(self.work_s)
        with self.lock:
            self.in_flight -= 1
            self.served += 1
        return 200, {}


def _handler(apf: Apf) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _do(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            if self.command == "GET" and self.path in DISCOVERY:
                status, headers, body = 200, {}, DISCOVERY[self.path]
            else:
                status, headers = apf.handle()
                body = {"kind": "Status", "reason": "TooManyRequests"} if status == 429 else {}
            data = json.dumps(body).encode()
            self.send_response(status)
            for key, value in {**headers, "Content-Type": "application/json"}.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_PATCH = _do

    return Handler


@pytest.fixture
def apf() -> Iterator[Apf]:
    state = Apf()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


def cm(n: int) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": f"c{n}", "namespace": "ml"}, "data": {"n": str(n)}}  # fmt: skip


def test_overloaded_server_gets_every_write_with_fewer_requests_in_flight(apf: Apf) -> None:
    with KubeClient(ClusterConfig(apf.url, "test"), concurrency=16) as kube:
        kube.map(lambda o: kube.apply(o), [cm(n) for n in range(64)])
        throttle = kube.throttle
    assert apf.served == 64  # every write landed, none failed
    assert apf.rejected, "the server never pushed back; the test proves nothing"
    assert throttle.overloads == len(apf.rejected)
    assert throttle.lowest <= 8  # the limit was at least halved
    # Adaptive, not blind retries: a client retrying 16 wide would be refused about 12 times per
    # round; halving keeps the refusals to a fraction of the requests.
    assert len(apf.rejected) < 64


def test_retry_after_is_honoured_before_the_next_request(apf: Apf) -> None:
    apf.seats, apf.retry_after = 1, "1"
    with KubeClient(ClusterConfig(apf.url, "test"), concurrency=4) as kube:
        kube.map(lambda o: kube.apply(o), [cm(n) for n in range(4)])
    assert apf.served == 4 and apf.rejected
    first_refusal = apf.rejected[0]
    after = [t for t in apf.arrived if t > first_refusal]
    assert after and min(after) - first_refusal >= 0.95  # nothing sent during Retry-After


def test_a_server_that_never_admits_is_an_error_after_bounded_retries(apf: Apf) -> None:
    apf.seats, apf.retry_after = 0, "0"
    with (
        KubeClient(ClusterConfig(apf.url, "test"), concurrency=2, retries=0) as kube,
        pytest.raises(ApiError) as caught,
    ):
        kube.apply(cm(0))
    assert caught.value.status == 429
    assert len(apf.rejected) == THROTTLED_RETRIES + 1


def test_retry_after_forms() -> None:
    assert retry_after_s("3") == 3.0
    assert retry_after_s(" 0 ") == 0.0
    assert retry_after_s(None) is None and retry_after_s("soon") is None
    assert retry_after_s("100000") == MAX_PAUSE_S
    now = time.time()
    date = email.utils.formatdate(now + 5, usegmt=True)
    got = retry_after_s(date, now=now)
    assert got is not None and 4.0 <= got <= 5.0


def test_limit_halves_once_per_episode_and_grows_back() -> None:
    t = Throttle(16)
    t.overloaded(0.05)
    t.overloaded(0.05)  # same episode: requests that were already in flight
    assert t.limit == 8
    time.sleep(0.06)
    t.overloaded(0.0)
    assert t.limit == 4 and t.lowest == 4
    for _ in range(200):
        t.succeeded()
    assert t.limit == 16  # back to the ceiling, never above


def test_slot_blocks_past_the_limit() -> None:
    t = Throttle(2)
    t.overloaded(0.0)  # limit 1
    entered = threading.Event()
    with t.slot():

        def second() -> None:
            with t.slot():
                entered.set()

        worker = threading.Thread(target=second)
        worker.start()
        assert not entered.wait(0.1)  # held back while the one seat is taken
    assert entered.wait(2)
    worker.join()
