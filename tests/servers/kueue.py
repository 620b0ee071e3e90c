"""The real Kueue controller (v0.19.2, built from its Go module) against the suite's apiserver.

Wired the way Kueue's own integration tests wire envtest: Kueue serves its webhooks on
127.0.0.1 with a serving certificate from a CA this fixture makes, the webhook configurations
point at ``https://127.0.0.1:<port>/<path>`` with that CA, and Kueue's internal certificate
management is off. Kueue then insists on a metrics certificate at the fixed path
``/etc/kueue/metrics/certs``; rather than write to the machine's /etc, the controller runs in a
private mount namespace (``unshare --user --map-root-user --mount``) where /etc is a tmpfs
holding links to the real entries plus that directory.

Only the webhooks of what this suite uses are installed (Kueue's own kinds and batch/v1 Jobs),
so no other pod or deployment in the shared test cluster goes through Kueue. At teardown the
webhook configurations are deleted before the controller stops.

Configuration worth knowing: ``integrations.frameworks: [batch/job]`` and
``resources.quotaCheckStrategy: IgnoreUndeclared`` (aiplane's queues account for GPUs; CPU and
memory are left to the scheduler — the README says so).
"""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import ssl
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.servers.support import ServerProcess, free_port

WEBHOOK_PREFIX = "aiplane-test-kueue"
_KEEP_PATHS = ("kueue-x-k8s-io", "batch-v1-job")
_WRAPPER = r"""
set -eu
real="$RUN/etc-real"
mkdir -p "$real"
mount --rbind /etc "$real"
mount -t tmpfs tmpfs /etc
for entry in "$real"/* "$real"/.[!.]*; do
  [ -e "$entry" ] || continue
  ln -s "$entry" "/etc/$(basename "$entry")"
done
rm -f /etc/kueue
mkdir -p /etc/kueue/metrics/certs
cp "$RUN/pki/serving.crt" /etc/kueue/metrics/certs/tls.crt
cp "$RUN/pki/serving.key" /etc/kueue/metrics/certs/tls.key
exec "$KUEUE" --config "$RUN/config.yaml" --zap-log-level=2
"""


@dataclass
class Kueue:
    """A running Kueue controller."""

    process: ServerProcess
    run_dir: Path
    webhook_port: int
    health_port: int
    build_seconds: float

    def log_tail(self, chars: int = 4000) -> str:
        return self.process.tail(chars)


def _openssl(*args: str) -> None:
    result = subprocess.run(["openssl", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)}: {result.stderr}")


def make_certs(pki: Path) -> None:
    """A CA and a serving certificate for 127.0.0.1 (webhooks and metrics)."""
    pki.mkdir(parents=True, exist_ok=True)
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj", "/CN=kueue-test-ca",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign",
        "-keyout", str(pki / "ca.key"), "-out", str(pki / "ca.crt"),
    )  # fmt: skip
    _openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
        "-keyout", str(pki / "serving.key"), "-out", str(pki / "serving.csr"),
    )  # fmt: skip
    (pki / "serving.ext").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
    )
    _openssl(
        "x509", "-req", "-in", str(pki / "serving.csr"), "-CA", str(pki / "ca.crt"),
        "-CAkey", str(pki / "ca.key"), "-CAcreateserial", "-days", "30",
        "-extfile", str(pki / "serving.ext"), "-out", str(pki / "serving.crt"),
    )  # fmt: skip
    certs = pki / "webhook"
    certs.mkdir(exist_ok=True)
    shutil.copy(pki / "serving.crt", certs / "tls.crt")
    shutil.copy(pki / "serving.key", certs / "tls.key")


def config_text(run: Path, webhook_port: int, health_port: int, metrics_port: int) -> str:
    config = {
        "apiVersion": "config.kueue.x-k8s.io/v1beta2",
        "kind": "Configuration",
        "namespace": "kueue-system",
        "health": {"healthProbeBindAddress": f"127.0.0.1:{health_port}"},
        "metrics": {"bindAddress": f"127.0.0.1:{metrics_port}"},
        "webhook": {
            "port": webhook_port,
            "host": "127.0.0.1",
            "certDir": str(run / "pki" / "webhook"),
        },
        "leaderElection": {"leaderElect": False},
        "internalCertManagement": {"enable": False},
        "manageJobsWithoutQueueName": False,
        "integrations": {"frameworks": ["batch/job"]},
        "resources": {"quotaCheckStrategy": "IgnoreUndeclared"},
        # The visibility API server (pending-workload positions as an aggregated API) reads its
        # certificate from another fixed path, /visibility; nothing here uses it.
        "featureGates": {"VisibilityOnDemand": False},
    }
    return yaml.safe_dump(config)


def crd_documents(module: Path) -> list[dict[str, Any]]:
    """Kueue's CRDs at the pinned version, served without a conversion webhook (v1beta2 only
    is used, and there is no in-cluster service to convert)."""
    docs = []
    for path in sorted((module / "config/components/crd/bases").glob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        doc["spec"].pop("conversion", None)
        docs.append(doc)
    return docs


def webhook_documents(module: Path, port: int, ca: bytes) -> list[dict[str, Any]]:
    """Kueue's webhook configurations, cut to the kinds this suite uses and pointed at the
    controller on loopback."""
    text = (module / "config/components/webhook/manifests.yaml").read_text()
    bundle = base64.b64encode(ca).decode()
    out = []
    for doc in yaml.safe_load_all(text):
        if not doc:
            continue
        kept = []
        for hook in doc.get("webhooks", []):
            path = hook["clientConfig"]["service"]["path"]
            if any(k in path for k in _KEEP_PATHS):
                hook["clientConfig"] = {
                    "url": f"https://127.0.0.1:{port}{path}",
                    "caBundle": bundle,
                }
                kept.append(hook)
        kind = "mutating" if doc["kind"].startswith("Mutating") else "validating"
        doc["metadata"] = {"name": f"{WEBHOOK_PREFIX}-{kind}"}
        doc["webhooks"] = kept
        out.append(doc)
    return out


def _kubectl_apply(cluster: Any, docs: list[dict[str, Any]]) -> None:
    text = "\n---\n".join(json.dumps(d) for d in docs)
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", input=text)


def _tls_ok(port: int, ca: Path) -> bool:
    context = ssl.create_default_context(cafile=str(ca))
    request = urllib.request.Request(f"https://127.0.0.1:{port}/healthz")
    try:
        urllib.request.urlopen(request, context=context, timeout=2)
    except urllib.error.HTTPError:
        return True  # a TLS handshake and an HTTP answer: the webhook server is up
    except OSError:
        return False
    return True


def _ready(port: int) -> bool:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
        return int(response.status) == 200


@contextlib.contextmanager
def run_kueue(cluster: Any, lc: Any) -> Iterator[Kueue]:
    """Build (cached), configure and start Kueue; stop it and remove its webhooks afterwards."""
    import localcluster.kueue as kb

    if shutil.which("unshare") is None:
        raise RuntimeError("kueue needs `unshare` (util-linux) for its private mount namespace")
    started = time.monotonic()
    binary = kb.build_kueue()
    build_seconds = time.monotonic() - started
    module = kb.module_dir()
    run = Path(tempfile.mkdtemp(prefix="aiplane-kueue-"))
    webhook_port, health_port, metrics_port = (free_port() for _ in range(3))
    make_certs(run / "pki")
    (run / "config.yaml").write_text(config_text(run, webhook_port, health_port, metrics_port))
    cluster.kubectl("create", "namespace", "kueue-system", check=False)
    _kubectl_apply(cluster, crd_documents(module))
    cluster.kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=120s")
    process = ServerProcess(
        "kueue",
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", _WRAPPER],
        run / "kueue.log",
        env={"RUN": str(run), "KUEUE": str(binary), "KUBECONFIG": str(cluster.kubeconfig)},
        cwd=run,
    )
    hooks = webhook_documents(module, webhook_port, (run / "pki" / "ca.crt").read_bytes())
    try:
        process.start()
        process.wait_ready(lambda: _ready(health_port), timeout=120, what="(readyz)")
        process.wait_ready(
            lambda: _tls_ok(webhook_port, run / "pki" / "ca.crt"), timeout=60, what="(webhooks)"
        )
        _kubectl_apply(cluster, hooks)
        yield Kueue(process, run, webhook_port, health_port, build_seconds)
    finally:
        for doc in hooks:
            kind = doc["kind"].lower()
            cluster.kubectl(
                "delete", kind, doc["metadata"]["name"], "--ignore-not-found", check=False
            )
        process.stop()
        shutil.rmtree(run, ignore_errors=True)
