"""Credentials that change while aiplane runs, plugged into httpx as an ``Auth``.

Two sources: an exec plugin (``exec_auth.ExecProvider``) and a token file that its owner rotates
(the kubelet rewrites a pod's projected ServiceAccount token; a kubeconfig ``tokenFile`` may be
managed the same way). Either way a 401 drops the credential and the request is sent once more
with a fresh one, as client-go does.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Protocol

import httpx

from aiplane.providers.kubernetes.exec_auth import ExecConfig, ExecCredential, ExecProvider
from aiplane.providers.kubernetes.kubeconfig import ClusterConfig, KubeconfigError, load_client_cert

# client-go re-reads a token file at most once a minute; a 401 re-reads it at once
TOKEN_FILE_REREAD_S = 60.0


class CredentialSource(Protocol):
    """Hands out the current credential and drops one the server refused."""

    def credential(self) -> ExecCredential: ...

    def invalidate(self, stale: ExecCredential) -> None: ...


class TokenFileSource:
    """A bearer token read from a file, re-read every minute and after a 401."""

    def __init__(self, path: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: ExecCredential | None = None
        self._read_at = 0.0

    def credential(self) -> ExecCredential:
        with self._lock:
            now = self._clock()
            if self._cached is None or now - self._read_at >= TOKEN_FILE_REREAD_S:
                self._cached, self._read_at = self._read(), now
            return self._cached

    def invalidate(self, stale: ExecCredential) -> None:
        with self._lock:
            if self._cached is stale:
                self._cached = None

    def _read(self) -> ExecCredential:
        try:
            token = Path(self.path).read_text().strip()
        except OSError as exc:
            raise KubeconfigError(f"token file {self.path}: {exc.strerror}") from exc
        if not token:
            raise KubeconfigError(f"token file {self.path}: empty")
        return ExecCredential(token=token)


class RefreshingAuth(httpx.Auth):
    """Bearer token (or client certificate) from a source; one retry with a new one on 401."""

    def __init__(self, source: CredentialSource, ctx: ssl.SSLContext) -> None:
        self.source = source
        self.ctx = ctx
        self._cert_lock = threading.Lock()
        self._cert_loaded: ExecCredential | None = None

    def prepare(self) -> None:
        """Fetch the first credential now, so a broken plugin fails before any request."""
        self._use(self.source.credential(), None)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        cred = self.source.credential()
        self._use(cred, request)
        response = yield request
        if response.status_code != 401:
            return
        self.source.invalidate(cred)
        self._use(self.source.credential(), request)
        yield request

    def _use(self, cred: ExecCredential, request: httpx.Request | None) -> None:
        if cred.token:
            if request is not None:
                request.headers["Authorization"] = f"Bearer {cred.token}"
            return
        if cred.client_cert_pem and cred.client_key_pem:
            # new connections present the new certificate; the context is shared by the pool
            with self._cert_lock:
                if self._cert_loaded is not cred:
                    load_client_cert(self.ctx, cred.client_cert_pem, cred.client_key_pem)
                    self._cert_loaded = cred


def refreshing_auth(config: ClusterConfig, ctx: ssl.SSLContext) -> RefreshingAuth | None:
    """The ``Auth`` for a config whose credential can change (exec plugin, token file)."""
    source: CredentialSource | None = None
    if isinstance(config.exec_config, ExecConfig):
        source = ExecProvider(config.exec_config)
    elif config.token_file:
        source = TokenFileSource(config.token_file)
    if source is None:
        return None
    auth = RefreshingAuth(source, ctx)
    auth.prepare()
    return auth
