"""In-cluster configuration: what a pod (a CD job) uses when there is no kubeconfig.

As client-go's ``rest.InClusterConfig``: the server from ``KUBERNETES_SERVICE_HOST`` and
``KUBERNETES_SERVICE_PORT``, the CA and the namespace from the pod's ServiceAccount directory, and
its token, which the kubelet rotates: it is re-read every minute and after a 401
(``credentials.TokenFileSource``), never kept for the whole run.

``AIPLANE_SERVICEACCOUNT_DIR`` moves the ServiceAccount directory (default
``/var/run/secrets/kubernetes.io/serviceaccount``), for pods that mount it elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path

from aiplane.providers.kubernetes.kubeconfig import ClusterConfig, KubeconfigError

SERVICEACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
CONTEXT = "in-cluster"


def in_cluster_possible() -> bool:
    """True inside a pod: the service env vars are set and the token file exists."""
    host = os.environ.get("KUBERNETES_SERVICE_HOST")
    port = os.environ.get("KUBERNETES_SERVICE_PORT")
    return bool(host and port) and (_sa_dir() / "token").is_file()


def in_cluster_config() -> ClusterConfig:
    """The pod's connection settings; raise when something is missing."""
    host = os.environ.get("KUBERNETES_SERVICE_HOST", "")
    port = os.environ.get("KUBERNETES_SERVICE_PORT", "")
    if not host or not port:
        raise KubeconfigError(
            "in-cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set"
        )
    sa = _sa_dir()
    token = sa / "token"
    if not token.is_file():
        raise KubeconfigError(f"in-cluster: {token}: not found (is a ServiceAccount mounted?)")
    host = f"[{host}]" if ":" in host else host  # IPv6
    ca = sa / "ca.crt"
    try:
        ca_pem = ca.read_text()
    except OSError as exc:
        raise KubeconfigError(f"in-cluster: {ca}: {exc.strerror}") from exc
    ns_file = sa / "namespace"
    namespace = ns_file.read_text().strip() if ns_file.is_file() else "default"
    return ClusterConfig(
        server=f"https://{host}:{port}",
        context=CONTEXT,
        namespace=namespace or "default",
        ca_pem=ca_pem,
        token_file=str(token),
    )


def _sa_dir() -> Path:
    return Path(os.environ.get("AIPLANE_SERVICEACCOUNT_DIR") or SERVICEACCOUNT_DIR)
