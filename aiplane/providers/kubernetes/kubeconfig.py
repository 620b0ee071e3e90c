"""Read a kubeconfig: pick a context and turn it into connection settings.

Supports what kubectl accepts: inline or file certificate data, bearer tokens (inline or
``tokenFile``), basic auth, ``insecure-skip-tls-verify``, ``tls-server-name``, ``proxy-url``,
``exec`` credential plugins (``exec_auth``), ``$KUBECONFIG`` lists merged as kubectl merges them
(``kubeconfig_merge``) and, with no kubeconfig at all, the in-cluster configuration
(``incluster``). ``auth-provider`` (deprecated by Kubernetes) is reported clearly.
"""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiplane.errors import AiplaneError
from aiplane.providers.kubernetes.exec_auth import ExecConfig, cluster_info, exec_config


class KubeconfigError(AiplaneError):
    """The kubeconfig is missing, unreadable or names something that is not there."""


@dataclass(frozen=True)
class ClusterConfig:
    """Everything needed to open a connection to one API server."""

    server: str
    context: str
    namespace: str = "default"
    ca_pem: str | None = None
    insecure: bool = False
    client_cert_pem: bytes | None = None
    client_key_pem: bytes | None = None
    token: str | None = None
    username: str | None = None
    password: str | None = None
    tls_server_name: str | None = None
    proxy_url: str | None = None
    token_file: str | None = None  # re-read while running (rotated tokens)
    exec_config: ExecConfig | None = None

    def ssl_context(self) -> ssl.SSLContext:
        """Build the TLS context: the cluster CA (or system CAs) plus the client certificate."""
        if self.insecure:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        elif self.ca_pem:  # only the cluster CA: loading the system store costs ~0.1 s
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.load_verify_locations(cadata=self.ca_pem)
        else:
            ctx = ssl.create_default_context()
        if self.client_cert_pem and self.client_key_pem:
            load_client_cert(ctx, self.client_cert_pem, self.client_key_pem)
        return ctx


def load_client_cert(ctx: ssl.SSLContext, cert: bytes, key: bytes) -> None:
    """ssl only loads chains from files: write both to a private temp dir and remove it at once."""
    with tempfile.TemporaryDirectory(prefix="aiplane-tls-") as tmp:
        cert_path, key_path = Path(tmp, "client.crt"), Path(tmp, "client.key")
        for path, data in ((cert_path, cert), (key_path, key)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
        ctx.load_cert_chain(str(cert_path), str(key_path))


def load_kubeconfig(path: str | None = None, context: str | None = None) -> ClusterConfig:
    """Resolve ``context`` in the kubeconfig at ``path``, or in the files kubectl would read
    (``$KUBECONFIG`` merged, ``~/.kube/config``), or the in-cluster configuration."""
    from aiplane.providers.kubernetes.kubeconfig_merge import (
        KubeconfigFileError,
        kubeconfig_files,
        load_merged,
    )

    try:
        found = load_merged(path)
    except KubeconfigFileError as exc:
        raise KubeconfigError(str(exc)) from exc
    if found is None:
        from aiplane.providers.kubernetes.incluster import in_cluster_config, in_cluster_possible

        if not context and in_cluster_possible():
            return in_cluster_config()
        names = os.pathsep.join(map(str, kubeconfig_files(path)))
        raise KubeconfigError(f"kubeconfig {names}: not found (and not running in a pod)")
    doc, source = found
    return resolve_context(doc, context, base_dir=Path(source.split(os.pathsep)[0]).parent,
                           source=source)  # fmt: skip


def _named(doc: Mapping[str, Any], section: str, name: str, source: str) -> dict[str, Any]:
    key = section[:-1]  # clusters -> cluster
    for entry in doc.get(section) or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            value = entry.get(key) or {}
            return dict(value) if isinstance(value, dict) else {}
    raise KubeconfigError(f"kubeconfig {source}: {key} '{name}' not found")


def resolve_context(
    doc: Mapping[str, Any], context: str | None, *, base_dir: Path, source: str
) -> ClusterConfig:
    """Turn a parsed kubeconfig document into a ``ClusterConfig`` for one context."""
    name = context or doc.get("current-context") or ""
    if not name:
        raise KubeconfigError(f"kubeconfig {source}: no current-context; pass --context")
    ctx = _named(doc, "contexts", str(name), source)
    cluster = _named(doc, "clusters", str(ctx.get("cluster", "")), source)
    user = _named(doc, "users", str(ctx.get("user", "")), source) if ctx.get("user") else {}
    if "auth-provider" in user:
        raise KubeconfigError(
            f"context {name}: user '{ctx.get('user')}' uses an auth-provider, which Kubernetes "
            "removed; switch the user to its exec plugin (e.g. kubelogin for OIDC)"
        )
    server = str(cluster.get("server") or "")
    if not server:
        raise KubeconfigError(f"context {name}: cluster has no server")
    ca = _data(cluster, "certificate-authority", base_dir)
    exec_section = user.get("exec")
    return ClusterConfig(
        server=server.rstrip("/"),
        context=str(name),
        namespace=str(ctx.get("namespace") or "default"),
        ca_pem=_text(ca),
        insecure=bool(cluster.get("insecure-skip-tls-verify", False)),
        client_cert_pem=_data(user, "client-certificate", base_dir),
        client_key_pem=_data(user, "client-key", base_dir),
        token=_token(user, base_dir),
        username=user.get("username"),
        password=user.get("password"),
        tls_server_name=cluster.get("tls-server-name"),
        proxy_url=cluster.get("proxy-url"),
        token_file=None if user.get("token") else _token_file(user, base_dir),
        exec_config=_exec(exec_section, str(name), cluster, ca) if exec_section else None,
    )


def _exec(section: Any, context: str, cluster: Mapping[str, Any], ca: bytes | None) -> ExecConfig:
    if not isinstance(section, Mapping):
        raise KubeconfigError(f"context {context}: users[].user.exec is not a mapping")
    info = cluster_info(cluster, ca, cluster.get("extensions") or [])
    return exec_config(section, context=context, cluster=info)


def _token_file(user: Mapping[str, Any], base_dir: Path) -> str | None:
    token_file = user.get("tokenFile")
    if not token_file:
        return None
    file = Path(str(token_file))
    return str(file if file.is_absolute() else base_dir / file)


def _data(section: Mapping[str, Any], key: str, base_dir: Path) -> bytes | None:
    """``<key>-data`` (base64) wins over ``<key>`` (a path relative to the kubeconfig)."""
    inline = section.get(f"{key}-data")
    if inline:
        try:
            return base64.b64decode(str(inline), validate=False)
        except ValueError as exc:
            raise KubeconfigError(f"kubeconfig: {key}-data is not base64") from exc
    path = section.get(key)
    if not path:
        return None
    file = Path(str(path))
    file = file if file.is_absolute() else base_dir / file
    try:
        return file.read_bytes()
    except OSError as exc:
        raise KubeconfigError(f"kubeconfig: {key} {file}: {exc.strerror}") from exc


def _text(data: bytes | None) -> str | None:
    return data.decode() if data else None


def _token(user: Mapping[str, Any], base_dir: Path) -> str | None:
    if user.get("token"):
        return str(user["token"])
    token_file = user.get("tokenFile")
    if not token_file:
        return None
    file = Path(str(token_file))
    file = file if file.is_absolute() else base_dir / file
    try:
        return file.read_text().strip()
    except OSError as exc:
        raise KubeconfigError(f"kubeconfig: tokenFile {file}: {exc.strerror}") from exc
