"""A small typed Kubernetes API client on httpx: the Kubernetes providers' only transport.

It covers what plan and apply need: discovery (kinds to plurals and scope, cached), GET, LIST with a
label selector, server-side apply (optionally as a dry run), create, replace, delete and patch.
Requests are retried briefly on transport errors and 429/5xx; a cluster that stays unreachable
raises ``ClusterUnreachable``. Concurrency is a thread pool over a pool of HTTP/1.1 keep-alive
connections (``transport``, on ``http.client``, when the connection is direct): httpx's synchronous
HTTP/2 connection is not safe to share between threads (it failed with "deque mutated during
iteration" under load), so ``http2`` is off unless asked for.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlencode

import httpx

from aiplane.errors import AiplaneError
from aiplane.providers.kubernetes.kubeconfig import ClusterConfig
from aiplane.providers.kubernetes.throttle import MAX_PAUSE_S, Throttle, retry_after_s
from aiplane.providers.kubernetes.transport import LeanTransport

T = TypeVar("T")
R = TypeVar("R")

APPLY_PATCH = "application/apply-patch+yaml"
MERGE_PATCH = "application/merge-patch+json"
_DISCOVERY_V2 = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
)
_RETRY_STATUS = {429, 500, 502, 503, 504}
# client-go's TLS handshake timeout; httpx's connect timeout covers TCP connect and handshake
TLS_HANDSHAKE_TIMEOUT = 10.0
THROTTLED_RETRIES = 10
"""429s are retried this many times (as client-go does), after the server's Retry-After."""


class ClusterUnreachable(AiplaneError):
    """The API server did not answer (connection refused, TLS failure, timeouts)."""


class ApiError(AiplaneError):
    """The API server answered with an error status."""

    def __init__(self, status: int, reason: str, message: str, causes: list[str]) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.causes = causes

    @property
    def immutable(self) -> bool:
        """True when the server rejected a change to an immutable field."""
        text = " ".join([str(self), *self.causes]).lower()
        return self.status == 422 and ("immutable" in text or "may not change" in text)


@dataclass(frozen=True)
class Resource:
    """What discovery tells about one kind: its REST plural and whether it is namespaced."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        return f"{base}/{name}" if name else base


class KubeClient:
    """Thread-safe client for one cluster; use as a context manager."""

    def __init__(
        self,
        config: ClusterConfig,
        *,
        concurrency: int = 16,
        timeout: float = 30.0,
        retries: int = 3,
        http2: bool = False,
        on_retry: Callable[[str], None] | None = None,
    ) -> None:
        """``timeout``: seconds one request may take, retries included (0: no limit, as
        kubectl's ``--request-timeout=0``); ``on_retry`` hears a line before each retry."""
        from aiplane.providers.kubernetes.credentials import refreshing_auth

        self.config = config
        self.concurrency = concurrency
        self.retries = retries
        self.timeout = timeout
        self.on_retry = on_retry
        headers = {"Accept": "application/json", "User-Agent": "aiplane"}
        ctx = config.ssl_context()
        auth: httpx.Auth | None = refreshing_auth(config, ctx)  # exec plugin, rotated token file
        if auth is None and config.token:
            headers["Authorization"] = f"Bearer {config.token}"
        elif auth is None and config.username is not None:
            auth = httpx.BasicAuth(config.username, config.password or "")
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        self._extensions = (
            {"sni_hostname": config.tls_server_name} if config.tls_server_name else {}
        )
        direct = not (http2 or config.proxy_url or config.tls_server_name)
        self._http = _Client(
            base_url=config.server,
            headers=headers,
            auth=auth,
            verify=ctx,
            http2=http2,
            timeout=self._timeout(timeout or None),
            limits=limits,
            proxy=config.proxy_url or None,
            transport=LeanTransport(config.server, ctx, keep=concurrency) if direct else None,
        )
        self.throttle = Throttle(concurrency)
        self._lock = threading.Lock()
        self._resources: dict[tuple[str, str], Resource] | None = None

    def __enter__(self) -> KubeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- transport -----------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        accept: str | None = None,
        decode: bool = True,
    ) -> Any:
        """Send one request with brief retries; return the decoded JSON body (or None on 404).

        ``body`` may be already encoded JSON (``bytes``): built once, sent as is. A 429 waits for
        the server's Retry-After and narrows the concurrency (``throttle``). ``decode=False``:
        the answer is not needed (None is returned), so its JSON is not parsed."""
        content = body if isinstance(body, bytes) or body is None else encode(body)
        # One absolute URL, parsed once: httpx parses a relative path, its join with the base
        # URL and the merged query each again (a third of the client's CPU per request).
        query = f"?{urlencode(params)}" if params else ""
        url = httpx.URL(f"{self.config.server}{path}{query}")
        headers = {"Content-Type": content_type} if content is not None else {}
        if accept:
            headers["Accept"] = accept
        delay = 0.2
        deadline = time.monotonic() + self.timeout if self.timeout > 0 else None
        attempt = throttled = 0
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            last = attempt == self.retries or (left is not None and left < delay + 0.1)
            try:
                with self.throttle.slot():
                    resp = self._http.request(
                        method, url, content=content, headers=headers,
                        timeout=self._timeout(left), extensions=self._extensions,
                    )  # fmt: skip
            except httpx.TransportError as exc:
                why = _transport_reason(exc)
                if last or (deadline is not None and deadline - time.monotonic() < delay + 0.1):
                    raise ClusterUnreachable(
                        f"{self.config.server}: cannot reach the API server: {why}"
                    ) from exc
            else:
                if resp.status_code == 429 and throttled < THROTTLED_RETRIES:
                    pause = retry_after_s(resp.headers.get("Retry-After"))
                    if pause is None:  # no hint from the server: back off as for a 5xx
                        pause, delay = min(delay, MAX_PAUSE_S), delay * 2.5
                    if deadline is None or deadline - time.monotonic() > pause:
                        throttled += 1
                        self.throttle.overloaded(pause)
                        continue
                if resp.status_code < 400:
                    self.throttle.succeeded()
                    return resp.json() if decode and resp.content else None
                if resp.status_code == 404 and method == "GET":
                    return None
                if resp.status_code not in _RETRY_STATUS or last:
                    raise _api_error(resp)
                why = f"HTTP {resp.status_code}"
            if self.on_retry is not None:
                self.on_retry(
                    f"{method} {path}: {why}; retrying in {delay:.1f} s "
                    f"({attempt + 1} of {self.retries})"
                )
            time.sleep(delay)
            delay *= 2.5
            attempt += 1

    def get_text(self, path: str, *, timeout: float = 5.0) -> str | None:
        """GET a non-JSON body (a pod's /metrics through the API server proxy); None when the
        server or the proxied endpoint answers with an error, raising only when unreachable."""
        try:
            resp = self._http.get(path, headers={"Accept": "text/plain, */*"}, timeout=timeout)
        except httpx.TransportError as exc:
            raise ClusterUnreachable(f"{self.config.server}: {path}: {exc or type(exc)}") from exc
        return resp.text if resp.status_code < 400 else None

    @staticmethod
    def _timeout(left: float | None) -> httpx.Timeout:
        """The whole request within ``left`` s; the connection (TLS handshake included) within
        ``TLS_HANDSHAKE_TIMEOUT`` of that."""
        connect = TLS_HANDSHAKE_TIMEOUT if left is None else min(left, TLS_HANDSHAKE_TIMEOUT)
        return httpx.Timeout(left, connect=max(connect, 0.05))

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """Run ``fn`` over ``items`` on a bounded thread pool, preserving order."""
        todo = list(items)
        if len(todo) <= 1:
            return [fn(x) for x in todo]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(todo))) as pool:
            return list(pool.map(fn, todo))

    # -- discovery -----------------------------------------------------------------------------

    def resource(self, api_version: str, kind: str) -> Resource | None:
        """Discovery lookup for ``apiVersion``/``kind``; None when the server does not serve it."""
        with self._lock:
            if self._resources is None:
                self._resources = self._discover()
            return self._resources.get((api_version, kind))

    def group_versions(self, group: str) -> list[str]:
        """Versions discovery lists for ``group``, preferred first."""
        self.resource("v1", "Namespace")  # fills the cache
        with self._lock:
            known = list(self._resources or {})
        found = (av.rpartition("/") for av, _ in known)
        return list(dict.fromkeys(v for g, _, v in found if g == group))

    def refresh_discovery(self) -> None:
        """Forget cached discovery (after CRDs were installed)."""
        with self._lock:
            self._resources = None

    def _discover(self) -> dict[tuple[str, str], Resource]:
        found: dict[tuple[str, str], Resource] = {}
        for root in ("/api", "/apis"):
            doc = self.request("GET", root, accept=_DISCOVERY_V2) or {}
            if doc.get("kind") == "APIGroupDiscoveryList":
                _read_aggregated(doc, found)
            else:
                self._read_legacy(root, doc, found)
        return found

    def _read_legacy(
        self, root: str, doc: Mapping[str, Any], found: dict[tuple[str, str], Resource]
    ) -> None:
        if root == "/api":
            versions = [("", v) for v in doc.get("versions", [])]
        else:
            versions = [
                (g["name"], v["version"]) for g in doc.get("groups", []) for v in g["versions"]
            ]
        for group, version in versions:
            path = f"/apis/{group}/{version}" if group else f"/api/{version}"
            for res in (self.request("GET", path) or {}).get("resources", []):
                if "/" in res["name"]:
                    continue
                r = Resource(group, version, res["kind"], res["name"], res["namespaced"])
                found.setdefault((r.api_version, r.kind), r)

    # -- verbs ---------------------------------------------------------------------------------

    def must_resource(self, api_version: str, kind: str) -> Resource:
        res = self.resource(api_version, kind)
        if res is None:
            raise ApiError(404, "NotFound", f"{kind}: the server does not serve {api_version}", [])
        return res

    def get(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None:
        res = self.must_resource(api_version, kind)
        result: dict[str, Any] | None = self.request("GET", res.path(namespace, name))
        return result

    def list(
        self, api_version: str, kind: str, *, label_selector: str, namespace: str | None = None
    ) -> list[dict[str, Any]]:
        """LIST one kind filtered by a label selector (all namespaces unless one is given)."""
        res = self.must_resource(api_version, kind)
        doc = self.request("GET", res.path(namespace), params={"labelSelector": label_selector})
        items: list[dict[str, Any]] = (doc or {}).get("items") or []
        for item in items:  # LIST items omit apiVersion/kind
            item.setdefault("apiVersion", res.api_version)
            item.setdefault("kind", kind)
        return items

    def apply(
        self,
        obj: Mapping[str, Any],
        *,
        field_manager: str = "aiplane",
        force: bool = True,
        dry_run: bool = False,
        encoded: bytes | None = None,
        result: bool = True,
    ) -> dict[str, Any]:
        """Server-side apply ``obj`` (optionally with ``dryRun=All``); return the result ({} when
        ``result`` is false: thousands of creates do not need theirs decoded).
        ``encoded``: ``obj`` already encoded (``encode``), so a body sent twice is built once."""
        meta = obj.get("metadata", {})
        res = self.must_resource(str(obj.get("apiVersion")), str(obj.get("kind")))
        params = {"fieldManager": field_manager, "force": "true" if force else "false"}
        if dry_run:
            params["dryRun"] = "All"
        path = res.path(meta.get("namespace"), meta["name"])
        answer: dict[str, Any] | None = self.request(
            "PATCH", path, params=params, body=obj if encoded is None else encoded,
            content_type=APPLY_PATCH, decode=result,
        )  # fmt: skip
        return answer or {}

    def create(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        res = self.must_resource(str(obj.get("apiVersion")), str(obj.get("kind")))
        result: dict[str, Any] = self.request(
            "POST", res.path(obj["metadata"].get("namespace")), body=obj
        )
        return result

    def replace(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """PUT (optimistic concurrency through ``metadata.resourceVersion``)."""
        meta = obj["metadata"]
        res = self.must_resource(str(obj.get("apiVersion")), str(obj.get("kind")))
        result: dict[str, Any] = self.request(
            "PUT", res.path(meta.get("namespace"), meta["name"]), body=obj
        )
        return result

    def patch(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None,
        patch: Mapping[str, Any],
        *,
        content_type: str = MERGE_PATCH,
    ) -> dict[str, Any]:
        res = self.must_resource(api_version, kind)
        result: dict[str, Any] = self.request(
            "PATCH", res.path(namespace, name), body=patch, content_type=content_type
        )
        return result

    def delete(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None = None,
        *,
        uid: str | None = None,
        propagation: str = "Background",
    ) -> bool:
        """Delete one object (only that uid when given); False when it was already gone."""
        res = self.must_resource(api_version, kind)
        body: dict[str, Any] = {"propagationPolicy": propagation}
        if uid:
            body["preconditions"] = {"uid": uid}
        try:
            self.request("DELETE", res.path(namespace, name), body=body)
        except ApiError as exc:
            if exc.status == 404:
                return False
            raise
        return True


def encode(body: Any) -> bytes:
    """Compact JSON, the form every request body is sent in (encode once, send many)."""
    return json.dumps(body, separators=(",", ":")).encode()


def _read_aggregated(doc: Mapping[str, Any], found: dict[tuple[str, str], Resource]) -> None:
    for group in doc.get("items", []):
        name = (group.get("metadata") or {}).get("name", "")
        for ver in group.get("versions", []):
            for res in ver.get("resources", []):
                kind = (res.get("responseKind") or {}).get("kind")
                if not kind:
                    continue
                r = Resource(
                    name, ver["version"], kind, res["resource"], res.get("scope") == "Namespaced"
                )
                # the first version listed is the preferred one; keep every version reachable
                found.setdefault((r.api_version, r.kind), r)


def _transport_reason(exc: httpx.TransportError) -> str:
    if isinstance(exc, httpx.ConnectTimeout):
        return "timed out connecting (TCP connect or TLS handshake)"
    if isinstance(exc, httpx.TimeoutException):
        return "no answer within the request timeout (--request-timeout)"
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _api_error(resp: httpx.Response) -> ApiError:
    try:
        doc = resp.json()
    except ValueError:
        doc = {}
    if not isinstance(doc, dict):
        doc = {}
    details = doc.get("details") or {}
    causes = [
        f"{c.get('field', '')}: {c.get('message', '')}".strip(": ")
        for c in details.get("causes") or []
    ]
    message = doc.get("message") or resp.text[:300] or resp.reason_phrase
    return ApiError(resp.status_code, doc.get("reason") or resp.reason_phrase, message, causes)


class _NoCookies(httpx.Cookies):
    """A jar that keeps nothing: API servers set no cookies and client-go keeps none, and
    reading every answer for them cost about 3 % of an apply's client CPU."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


class _Client(httpx.Client):
    """httpx's client without cookie handling (see ``_NoCookies``)."""

    _no_cookies = _NoCookies()

    @property  # type: ignore[misc]
    def cookies(self) -> httpx.Cookies:
        return self._no_cookies
