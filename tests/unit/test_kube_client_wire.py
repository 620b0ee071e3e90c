"""The Kubernetes client's wire contract, against a local HTTP server that records every request:
paths, query parameters (fieldManager, force, dryRun=All, labelSelector), content types, bodies,
retries on 429/5xx, 404 on GET -> None, errors keeping the server's status and reason."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from aiplane.providers.kubernetes.client import ApiError, ClusterUnreachable, KubeClient
from aiplane.providers.kubernetes.kubeconfig import ClusterConfig

CORE = {"resources": [
    {"name": "configmaps", "kind": "ConfigMap", "namespaced": True},
    {"name": "namespaces", "kind": "Namespace", "namespaced": False},
    {"name": "configmaps/status", "kind": "ConfigMap", "namespaced": True},
]}  # fmt: skip
APPS = {"resources": [{"name": "deployments", "kind": "Deployment", "namespaced": True}]}


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


Reply = tuple[int, Any]


@dataclass
class Server:
    """Answers discovery itself; every other request goes to ``answer`` (default: 200 {})."""

    url: str = ""
    seen: list[Seen] = field(default_factory=list)
    answer: Callable[[Seen], Reply] = lambda s: (200, {})
    set_cookie: str = ""  # sent with every answer when set

    def calls(self, method: str) -> list[Seen]:
        return [s for s in self.seen if s.method == method]


def _handler(server: Server) -> type[BaseHTTPRequestHandler]:
    discovery: dict[str, Any] = {
        "/api": {"versions": ["v1"]},
        "/apis": {"groups": [{"name": "apps", "versions": [{"version": "v1"}]}]},
        "/api/v1": CORE,
        "/apis/apps/v1": APPS,
    }

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _do(self) -> None:
            split = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            seen = Seen(self.command, split.path, parse_qs(split.query),
                        {k.lower(): v for k, v in self.headers.items()},
                        json.loads(raw) if raw else None)  # fmt: skip
            if self.command == "GET" and split.path in discovery:
                status, body = 200, discovery[split.path]
            else:
                server.seen.append(seen)
                status, body = server.answer(seen)
            data = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if server.set_cookie:
                self.send_header("Set-Cookie", server.set_cookie)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_PATCH = do_DELETE = do_POST = do_PUT = _do

    return Handler


@pytest.fixture
def server() -> Iterator[Server]:
    state = Server()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


def client(server: Server, **kw: Any) -> KubeClient:
    return KubeClient(ClusterConfig(server.url, "test", token="t0ken"), **kw)


CM = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "ml"},
      "data": {"k": "v"}}  # fmt: skip


def test_get_and_404_is_none(server: Server) -> None:
    server.answer = lambda s: (200, CM) if s.path.endswith("/c") else (404, {"reason": "NotFound"})
    with client(server) as kube:
        assert kube.get("v1", "ConfigMap", "c", "ml") == CM
        assert kube.get("v1", "ConfigMap", "gone", "ml") is None
    got = server.calls("GET")
    assert [s.path for s in got] == ["/api/v1/namespaces/ml/configmaps/c",
                                     "/api/v1/namespaces/ml/configmaps/gone"]  # fmt: skip
    assert got[0].headers["authorization"] == "Bearer t0ken"
    assert got[0].headers["accept"] == "application/json"


def test_list_sends_the_selector_and_fills_kind(server: Server) -> None:
    server.answer = lambda s: (200, {"items": [{"metadata": {"name": "d"}}]})
    with client(server) as kube:
        items = kube.list("apps/v1", "Deployment", label_selector="applyset.k8s.io/part-of=x")
    assert items == [{"metadata": {"name": "d"}, "apiVersion": "apps/v1", "kind": "Deployment"}]
    [call] = server.calls("GET")
    assert call.path == "/apis/apps/v1/deployments"  # all namespaces
    assert call.query == {"labelSelector": ["applyset.k8s.io/part-of=x"]}


@pytest.mark.parametrize(("dry_run", "force"), [(False, True), (True, True), (False, False)])
def test_server_side_apply_contract(server: Server, dry_run: bool, force: bool) -> None:
    server.answer = lambda s: (200, {**s.body, "metadata": {**s.body["metadata"], "uid": "u"}})
    with client(server) as kube:
        result = kube.apply(CM, field_manager="aiplane", force=force, dry_run=dry_run)
    assert result["metadata"]["uid"] == "u"
    [call] = server.calls("PATCH")
    assert call.path == "/api/v1/namespaces/ml/configmaps/c"
    expected = {"fieldManager": ["aiplane"], "force": ["true" if force else "false"]}
    if dry_run:
        expected["dryRun"] = ["All"]
    assert call.query == expected
    assert call.headers["content-type"] == "application/apply-patch+yaml"
    assert call.body == CM


def test_an_apply_whose_answer_is_not_needed_is_not_decoded(server: Server) -> None:
    server.answer = lambda s: (200, {**s.body, "metadata": {**s.body["metadata"], "uid": "u"}})
    with client(server) as kube:
        assert kube.apply(CM, dry_run=True, result=False) == {}
        assert kube.apply(CM, result=True)["metadata"]["uid"] == "u"
    assert [c.body for c in server.calls("PATCH")] == [CM, CM]


def test_cookies_the_server_sets_are_not_sent_back(server: Server) -> None:
    """As client-go: an API server (or a proxy before it) gets no cookie jar to fill."""
    server.set_cookie = "session=abc; Path=/"
    with client(server) as kube:
        kube.get("v1", "ConfigMap", "c", "ml")
        kube.get("v1", "ConfigMap", "c", "ml")
    assert [c.headers.get("cookie") for c in server.calls("GET")] == [None, None]


def test_cluster_scoped_apply_has_no_namespace_in_the_path(server: Server) -> None:
    with client(server) as kube:
        kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ml"}})
    assert server.calls("PATCH")[0].path == "/api/v1/namespaces/ml"


def test_delete_sends_uid_precondition_and_propagation(server: Server) -> None:
    replies = iter([(200, {}), (404, {"reason": "NotFound"})])
    server.answer = lambda s: next(replies)
    with client(server) as kube:
        assert kube.delete(
            "apps/v1", "Deployment", "d", "ml", uid="uid-1", propagation="Foreground"
        )
        assert kube.delete("apps/v1", "Deployment", "d", "ml") is False  # already gone
    first, second = server.calls("DELETE")
    assert first.path == "/apis/apps/v1/namespaces/ml/deployments/d"
    assert first.body == {"propagationPolicy": "Foreground", "preconditions": {"uid": "uid-1"}}
    assert first.headers["content-type"] == "application/json"
    assert second.body == {"propagationPolicy": "Background"}


def test_retries_on_503_then_succeeds(server: Server) -> None:
    replies = iter([(503, {}), (429, {}), (200, CM)])
    server.answer = lambda s: next(replies)
    with client(server, retries=3) as kube:
        assert kube.get("v1", "ConfigMap", "c", "ml") == CM
    assert len(server.calls("GET")) == 3


def test_errors_keep_status_reason_and_causes_and_are_not_retried(server: Server) -> None:
    server.answer = lambda s: (422, {
        "reason": "Invalid", "message": "Deployment.apps \"d\" is invalid",
        "details": {"causes": [{"field": "spec.selector", "message": "field is immutable"}]},
    })  # fmt: skip
    with client(server) as kube, pytest.raises(ApiError) as caught:
        kube.apply({"apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": {"name": "d", "namespace": "ml"}})  # fmt: skip
    err = caught.value
    assert (err.status, err.reason, err.causes) == (
        422,
        "Invalid",
        ["spec.selector: field is immutable"],
    )
    assert err.immutable and len(server.calls("PATCH")) == 1


def test_unknown_kind_is_a_404_error_without_a_request(server: Server) -> None:
    with (
        client(server) as kube,
        pytest.raises(ApiError, match=re.escape("does not serve example.com/v1")),
    ):
        kube.get("example.com/v1", "Widget", "w")
    assert server.seen == []


def test_unreachable_server_is_a_clear_error() -> None:
    dead = KubeClient(ClusterConfig("http://127.0.0.1:9", "test"), retries=0)
    with dead, pytest.raises(ClusterUnreachable, match="cannot reach the API server"):
        dead.get("v1", "Namespace", "ml")


def _desired(name: str, namespace: str = "ml") -> Any:
    from aiplane.providers.kubernetes.desired import Desired
    from aiplane.providers.kubernetes.objects import ObjectRef

    return Desired(ObjectRef("v1", "ConfigMap", namespace, name), {}, "", "", "")


def test_many_unlisted_objects_of_one_kind_are_read_by_one_names_list(server: Server) -> None:
    """A first apply: the names in the namespace come first (metadata only); only the ones that
    exist (another owner's) are read, and a few missing objects are each read directly."""
    from aiplane.providers.kubernetes.scoped_reads import NAMES_LIST_FROM, unlisted_objects

    foreign = {"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "cm-3", "namespace": "ml"}}  # fmt: skip

    def answer(s: Seen) -> Reply:
        if s.path == "/api/v1/namespaces/ml/configmaps":
            return 200, {"items": [{"metadata": {"name": "cm-3"}}, {"metadata": {"name": "x"}}]}
        if s.path == "/api/v1/namespaces/ml/configmaps/cm-3":
            return 200, foreign
        if s.path == "/api/v1/namespaces/other/configmaps/solo":
            return 200, {**foreign, "metadata": {"name": "solo", "namespace": "other"}}
        return 404, {"reason": "NotFound"}

    server.answer = answer
    many = [_desired(f"cm-{i}") for i in range(NAMES_LIST_FROM)]
    few = [_desired("solo", "other"), _desired("gone", "other")]
    with client(server) as kube:
        found = unlisted_objects(kube, [*many, *few])
    assert found[3] == foreign and found[8] is not None and found[8]["metadata"]["name"] == "solo"
    assert [i for i, obj in enumerate(found) if obj is None] == [0, 1, 2, 4, 5, 6, 7, 9]
    paths = sorted(s.path for s in server.calls("GET"))
    assert paths == ["/api/v1/namespaces/ml/configmaps", "/api/v1/namespaces/ml/configmaps/cm-3",
                     "/api/v1/namespaces/other/configmaps/gone",
                     "/api/v1/namespaces/other/configmaps/solo"]  # fmt: skip
    names_list = next(s for s in server.calls("GET") if s.path.endswith("/configmaps"))
    assert names_list.headers["accept"].startswith("application/json;as=PartialObjectMetadataList")


def test_prefetched_lists_are_the_reads_lists_sent_once(server: Server) -> None:
    """The LISTs ``prepare`` starts are exactly those the first read needs (per kind and
    namespace, the default namespace for objects without one, none for kinds the server does
    not serve); the read takes their answers, lists only what the state adds, and a later read
    asks the server again."""
    from aiplane.providers.kubernetes.desired import Desired
    from aiplane.providers.kubernetes.live_read import Prefetch, prefetch_calls, read_live
    from aiplane.providers.kubernetes.objects import ObjectRef

    def answer(s: Seen) -> Reply:
        ns = s.path.split("/")[4]
        if not s.path.endswith("/configmaps"):
            return 404, {"reason": "NotFound"}
        return 200, {"items": [{"metadata": {"name": f"cm-{ns}", "namespace": ns}}]}

    server.answer = answer
    manifests = [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "ml"}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b"}},
        {"apiVersion": "example.com/v1", "kind": "Unserved", "metadata": {"name": "c"}},
    ]
    desired = [
        Desired(ObjectRef("v1", "ConfigMap", "ml", "cm-ml"), {}, "", "", ""),
        Desired(ObjectRef("v1", "ConfigMap", "default", "b"), {}, "", "", ""),
    ]
    with client(server) as kube:
        calls = prefetch_calls(kube, manifests, "default")
        assert calls == [("v1", "ConfigMap", "default"), ("v1", "ConfigMap", "ml")]
        prefetched = Prefetch(kube, "sel", calls)
        recorded = {"namespaces": ["old"]}
        live = read_live(kube, "sel", desired, recorded, {}, prefetched)
        lists = sorted(s.path for s in server.calls("GET") if s.path.endswith("/configmaps"))
        assert lists == [f"/api/v1/namespaces/{ns}/configmaps" for ns in ("default", "ml", "old")]
        assert {a.name for a in live.members} == {"cm-default", "cm-ml", "cm-old"}
        assert [a.name for a in live.objects] == ["cm-ml"]
        read_live(kube, "sel", desired, recorded, {}, prefetched)  # taken: read again
        assert len([s for s in server.calls("GET") if s.path.endswith("/configmaps")]) == 6


def test_a_prefetched_list_that_failed_fails_the_read(server: Server) -> None:
    from aiplane.providers.kubernetes.desired import Desired
    from aiplane.providers.kubernetes.live_read import Prefetch, read_live
    from aiplane.providers.kubernetes.objects import ObjectRef

    server.answer = lambda s: (403, {"reason": "Forbidden", "message": "no list for you"})
    desired = [Desired(ObjectRef("v1", "ConfigMap", "ml", "a"), {}, "", "", "")]
    with client(server) as kube:
        prefetched = Prefetch(kube, "sel", [("v1", "ConfigMap", "ml")])
        with pytest.raises(ApiError, match="no list for you"):
            read_live(kube, "sel", desired, {}, {}, prefetched)
