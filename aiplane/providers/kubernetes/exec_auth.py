"""Kubeconfig ``exec`` credential plugins (client.authentication.k8s.io v1 and v1beta1).

What EKS (``aws eks get-token``), GKE (``gke-gcloud-auth-plugin``) and AKS (``kubelogin``)
kubeconfigs use. Implemented to the spec rather than borrowed from a Python client, because those
ignore ``interactiveMode``, pass a CA path where the spec wants bytes, or never re-run on a 401:

* the plugin gets ``KUBERNETES_EXEC_INFO`` (an ``ExecCredential`` with ``spec.interactive`` and,
  with ``provideClusterInfo``, ``spec.cluster`` carrying the CA as bytes);
* ``interactiveMode`` decides whether it may talk to the user: never off a terminal;
* the returned token or client certificate is cached until ``expirationTimestamp``, shared by
  every thread, and the plugin runs again (once) when the server answers 401.

The credential itself never reaches any output: error lines name the context, the command, the
plugin's last stderr line and the fix.
"""

from __future__ import annotations

import base64
import json
import os
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiplane.errors import AiplaneError

GROUP = "client.authentication.k8s.io"
SUPPORTED = (f"{GROUP}/v1", f"{GROUP}/v1beta1")
EXEC_EXTENSION = f"{GROUP}/exec"
MODES = ("Never", "IfAvailable", "Always")


class ExecPluginError(AiplaneError):
    """The credential plugin is missing, failed, or cannot run here (needs a terminal)."""


@dataclass(frozen=True)
class ExecConfig:
    """One ``users[].user.exec`` entry, checked, plus what the plugin may learn of the cluster."""

    context: str
    api_version: str
    command: str
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    install_hint: str = ""
    interactive_mode: str = "IfAvailable"
    cluster_json: str = ""  # spec.cluster as JSON text, "" unless provideClusterInfo

    @property
    def command_line(self) -> str:
        """The plugin's command line as a user would type it."""
        return shlex.join([self.command, *self.args])


@dataclass(frozen=True)
class ExecCredential:
    """What a plugin returned: a bearer token or a client certificate, maybe with an expiry."""

    token: str | None = None
    client_cert_pem: bytes | None = None
    client_key_pem: bytes | None = None
    expires_at: float | None = None  # epoch seconds; None: valid for the whole run


def exec_config(
    exec_section: Mapping[str, Any], *, context: str, cluster: Mapping[str, Any] | None
) -> ExecConfig:
    """Check a kubeconfig ``exec`` section; ``cluster`` is the spec.cluster to pass (or None)."""
    where = f"context {context}: users[].user.exec"
    api_version = str(exec_section.get("apiVersion") or "")
    if api_version not in SUPPORTED:
        raise ExecPluginError(
            f"{where}.apiVersion {api_version or '(missing)'} is not supported "
            f"(use {SUPPORTED[0]}; v1alpha1 was removed in Kubernetes 1.24, so update the plugin)"
        )
    command = str(exec_section.get("command") or "")
    if not command:
        raise ExecPluginError(f"{where}.command is missing")
    mode = exec_section.get("interactiveMode")
    if mode is None and api_version.endswith("/v1"):
        raise ExecPluginError(
            f"{where}.interactiveMode is required in {api_version} (Never, IfAvailable or Always)"
        )
    mode = str(mode or "IfAvailable")
    if mode not in MODES:
        raise ExecPluginError(f"{where}.interactiveMode {mode}: use Never, IfAvailable or Always")
    env = tuple(
        (str(e.get("name", "")), str(e.get("value", "")))
        for e in exec_section.get("env") or []
        if isinstance(e, Mapping)
    )
    provide = bool(exec_section.get("provideClusterInfo"))
    return ExecConfig(
        context=context,
        api_version=api_version,
        command=command,
        args=tuple(str(a) for a in exec_section.get("args") or []),
        env=env,
        install_hint=str(exec_section.get("installHint") or "").strip(),
        interactive_mode=mode,
        cluster_json=json.dumps(cluster, sort_keys=True) if provide and cluster else "",
    )


def cluster_info(
    cluster: Mapping[str, Any], ca_data: bytes | None, extensions: Sequence[Any]
) -> dict[str, Any]:
    """``spec.cluster`` as the spec defines it: the CA as bytes (base64 in JSON), never a path."""
    info: dict[str, Any] = {"server": str(cluster.get("server") or "")}
    for key in ("tls-server-name", "proxy-url"):
        if cluster.get(key):
            info[key] = str(cluster[key])
    for key in ("insecure-skip-tls-verify", "disable-compression"):
        if cluster.get(key):
            info[key] = True
    if ca_data:
        info["certificate-authority-data"] = base64.b64encode(ca_data).decode()
    for ext in extensions:
        if isinstance(ext, Mapping) and ext.get("name") == EXEC_EXTENSION:
            info["config"] = ext.get("extension")
    return info


def exec_info(config: ExecConfig, interactive: bool) -> str:
    """The ``KUBERNETES_EXEC_INFO`` value for one run."""
    spec: dict[str, Any] = {"interactive": interactive}
    if config.cluster_json:
        spec["cluster"] = json.loads(config.cluster_json)
    return json.dumps({"apiVersion": config.api_version, "kind": "ExecCredential", "spec": spec})


def parse_credential(config: ExecConfig, stdout: str) -> ExecCredential:
    """Read the plugin's ``ExecCredential``; a malformed answer is the plugin's error."""
    try:
        doc = json.loads(stdout)
    except ValueError:
        doc = None
    if not isinstance(doc, dict) or doc.get("kind") != "ExecCredential":
        raise _failed(config, "did not print an ExecCredential on stdout")
    if doc.get("apiVersion") != config.api_version:
        raise _failed(
            config, f"answered {doc.get('apiVersion')}, but the kubeconfig asks for "
            f"{config.api_version}"
        )  # fmt: skip
    status = doc.get("status") or {}
    token = status.get("token")
    cert, key = status.get("clientCertificateData"), status.get("clientKeyData")
    if not token and not (cert and key):
        raise _failed(config, "returned neither a token nor a client certificate and key")
    return ExecCredential(
        token=str(token) if token else None,
        client_cert_pem=str(cert).encode() if cert and not token else None,
        client_key_pem=str(key).encode() if key and not token else None,
        expires_at=_timestamp(config, status.get("expirationTimestamp")),
    )


def _timestamp(config: ExecConfig, value: Any) -> float | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise _failed(config, f"expirationTimestamp {value!r} is not RFC 3339") from None


def _failed(config: ExecConfig, what: str, stderr: str = "") -> ExecPluginError:
    last = next((ln.strip() for ln in reversed(stderr.splitlines()) if ln.strip()), "")
    said = f": {last}" if last else ""
    return ExecPluginError(
        f"context {config.context}: credential plugin `{config.command_line}` {what}{said} "
        f"(run `{config.command_line}` in a terminal to see why, e.g. log in again)"
    )


def _missing(config: ExecConfig, why: str) -> ExecPluginError:
    hint = config.install_hint.replace("\n", " ") or (
        f"install {config.command} or fix users[].user.exec.command in the kubeconfig"
    )
    return ExecPluginError(
        f"context {config.context}: credential plugin `{config.command}` {why} ({hint})"
    )


Runner = Callable[..., "subprocess.CompletedProcess[str]"]


class ExecProvider:
    """Runs one plugin when needed and caches its credential; safe to share between threads."""

    def __init__(
        self,
        config: ExecConfig,
        *,
        stdin_isatty: Callable[[], bool] | None = None,
        clock: Callable[[], float] = time.time,
        runner: Runner = subprocess.run,
    ) -> None:
        self.config = config
        self._isatty = stdin_isatty or _stdin_isatty
        self._clock = clock
        self._run = runner
        self._lock = threading.Lock()
        self._cached: ExecCredential | None = None
        self.runs = 0

    def credential(self) -> ExecCredential:
        """The cached credential, or a fresh one when there is none or it has expired."""
        with self._lock:
            cred = self._cached
            if cred is None or (cred.expires_at is not None and cred.expires_at <= self._clock()):
                cred = self._cached = self._exec()
            return cred

    def invalidate(self, stale: ExecCredential) -> None:
        """The server refused ``stale`` (401): the next ``credential()`` runs the plugin again.
        Threads that saw the same 401 share one re-run: only the first drop counts."""
        with self._lock:
            if self._cached is stale:
                self._cached = None

    def _interactive(self) -> bool:
        mode = self.config.interactive_mode
        terminal = self._isatty()
        if mode == "Always" and not terminal:
            raise ExecPluginError(
                f"context {self.config.context}: credential plugin `{self.config.command}` "
                "needs a terminal (interactiveMode: Always) and stdin is not one; run "
                f"`{self.config.command_line}` in a terminal first, or give CI a "
                "non-interactive credential (a ServiceAccount token)"
            )
        return terminal and mode != "Never"

    def _exec(self) -> ExecCredential:
        interactive = self._interactive()
        env = dict(os.environ)
        env.update(self.config.env)
        env["KUBERNETES_EXEC_INFO"] = exec_info(self.config, interactive)
        self.runs += 1
        try:
            done = self._run(
                [self.config.command, *self.config.args],
                env=env,
                stdin=None if interactive else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                # interactive plugins prompt on stderr: let the user see it
                stderr=None if interactive else subprocess.PIPE,
                text=True,
                check=False,
            )
        except FileNotFoundError:
            raise _missing(self.config, "was not found") from None
        except PermissionError:
            raise _missing(self.config, "is not executable") from None
        if done.returncode != 0:
            raise _failed(self.config, f"exited with status {done.returncode}", done.stderr or "")
        return parse_credential(self.config, done.stdout or "")


def _stdin_isatty() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (ValueError, OSError):
        return False
