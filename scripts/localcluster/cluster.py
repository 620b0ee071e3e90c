"""The `Cluster` class: state file, API/kubectl access, apiserver stop/start, GPU nodes."""

from __future__ import annotations

import contextlib
import json
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import (
    ETCD_VERSION,
    K8S_VERSION,
    KWOK_VERSION,
    SERVICE_CIDR,
    START_TIMEOUT_S,
    STATE_FILE,
    ClusterError,
)
from .nodes import gpu_node_manifests
from .processes import _alive, _client_ctx, _get_ok, _spawn, _stop, _tail


@dataclass
class Cluster:
    """A running local control plane; its state lives in run_dir/cluster.json."""

    run_dir: Path
    bin_dir: Path
    ports: dict[str, int]
    procs: dict[str, dict[str, Any]] = field(default_factory=dict)
    die_with_parent: bool = False
    _ctx: ssl.SSLContext | None = field(default=None, repr=False, compare=False)

    # ---- paths -----------------------------------------------------------------------------
    @property
    def kubeconfig(self) -> Path:
        return self.run_dir / "kubeconfig"

    @property
    def pki(self) -> Path:
        return self.run_dir / "pki"

    @property
    def api_url(self) -> str:
        return f"https://127.0.0.1:{self.ports['apiserver']}"

    def log_file(self, name: str) -> Path:
        return self.run_dir / "logs" / f"{name}.log"

    def pids(self) -> dict[str, int]:
        return {name: e["pid"] for name, e in self.procs.items() if _alive(e)}

    # ---- state -----------------------------------------------------------------------------
    def save(self) -> None:
        data = {
            "bin_dir": str(self.bin_dir),
            "ports": self.ports,
            "procs": self.procs,
            "versions": {"kubernetes": K8S_VERSION, "etcd": ETCD_VERSION, "kwok": KWOK_VERSION},
        }
        tmp = self.run_dir / (STATE_FILE + ".tmp")
        tmp.write_text(json.dumps(data, indent=2))
        tmp.replace(self.run_dir / STATE_FILE)

    @classmethod
    def load(cls, run_dir: Path | str) -> Cluster:
        run_dir = Path(run_dir).resolve()
        try:
            data = json.loads((run_dir / STATE_FILE).read_text())
        except FileNotFoundError:
            raise ClusterError(f"no cluster state in {run_dir} (was `up --dir` run?)") from None
        return cls(run_dir, Path(data["bin_dir"]), data["ports"], data["procs"])

    # ---- API -------------------------------------------------------------------------------
    def api(self, method: str, path: str, body: Any = None, *, timeout: float = 30) -> Any:
        """One JSON request to the apiserver as cluster admin; returns the decoded body."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.api_url + path, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            ctype = "application/merge-patch+json" if method == "PATCH" else "application/json"
            req.add_header("Content-Type", ctype)
        try:
            if self._ctx is None:
                self._ctx = _client_ctx(self.pki)
            with urllib.request.urlopen(req, context=self._ctx, timeout=timeout) as r:
                raw = r.read()
        except urllib.error.HTTPError as e:
            detail = e.read().decode(errors="replace")
            raise ClusterError(f"{method} {path}: HTTP {e.code}: {detail}") from None
        return json.loads(raw) if raw else None

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run the built kubectl against this cluster; raise ClusterError when check fails."""
        cmd = [str(self.bin_dir / "kubectl"), f"--kubeconfig={self.kubeconfig}", *args]
        res = subprocess.run(
            cmd, input=input, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and res.returncode != 0:
            raise ClusterError(
                f"kubectl {' '.join(args)} failed ({res.returncode}):\n{res.stderr}{res.stdout}"
            )
        return res

    # ---- lifecycle -------------------------------------------------------------------------
    def _start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.procs[name] = _spawn(
            name, argv, self.run_dir, die_with_parent=self.die_with_parent, env=env
        )
        self.save()

    def _wait(
        self, name: str, check: Any, timeout: float, what: str, proc: str | None = None
    ) -> None:
        deadline = time.monotonic() + timeout
        proc = proc or name
        while True:
            if check():
                return
            entry = self.procs.get(proc)
            if entry is not None and not _alive(entry):
                raise ClusterError(
                    f"{proc} exited while waiting for {what}; see {self.log_file(proc)}\n"
                    + _tail(self.log_file(proc))
                )
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"{what} not ready after {timeout:.0f}s; see {self.log_file(proc)}\n"
                    + _tail(self.log_file(proc))
                )
            time.sleep(0.25)

    def apiserver_argv(self) -> list[str]:
        p, port = self.pki, self.ports["apiserver"]
        return [
            str(self.bin_dir / "kube-apiserver"),
            f"--etcd-servers=http://127.0.0.1:{self.ports['etcd']}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={port}",
            "--endpoint-reconciler-type=none",
            f"--cert-dir={p}",
            f"--tls-cert-file={p / 'apiserver.crt'}",
            f"--tls-private-key-file={p / 'apiserver.key'}",
            f"--client-ca-file={p / 'ca.crt'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={p / 'sa.pub'}",
            f"--service-account-signing-key-file={p / 'sa.key'}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--authorization-mode=RBAC",
            # no token controller race for pods in fresh namespaces (envtest does the same)
            "--disable-admission-plugins=ServiceAccount",
            "--enable-priority-and-fairness=false",
            "--allow-privileged=true",
            "--profiling=false",
            "--v=1",
        ]

    def start_apiserver(self, timeout: float = START_TIMEOUT_S) -> None:
        """(Re)start kube-apiserver on the same port against the same etcd; wait for /readyz."""
        if "apiserver" in self.procs and _alive(self.procs["apiserver"]):
            raise ClusterError("kube-apiserver is already running")
        self._start("apiserver", self.apiserver_argv())
        self.wait_apiserver(timeout)

    def wait_apiserver(self, timeout: float = START_TIMEOUT_S) -> None:
        ctx = _client_ctx(self.pki)
        self._wait(
            "apiserver",
            lambda: _get_ok(f"{self.api_url}/readyz", ctx),
            timeout,
            f"kube-apiserver /readyz ({self.api_url})",
        )

    def stop_apiserver(self, *, kill: bool = False) -> None:
        """Stop kube-apiserver (SIGTERM, or SIGKILL with kill=True); the rest keeps running."""
        entry = self.procs.get("apiserver")
        if entry is not None:
            _stop(entry, kill=kill)
            self.save()

    def restart_apiserver(self, *, kill: bool = False, timeout: float = START_TIMEOUT_S) -> None:
        self.stop_apiserver(kill=kill)
        self.start_apiserver(timeout)

    def ensure_apiserver(self, timeout: float = START_TIMEOUT_S) -> None:
        """Start kube-apiserver again if it was stopped (e.g. by a test that failed midway)."""
        entry = self.procs.get("apiserver")
        if entry is None or not _alive(entry):
            self.start_apiserver(timeout)

    # ---- nodes -----------------------------------------------------------------------------
    def create_gpu_nodes(self, gpu: str, count: int = 1, **kwargs: Any) -> list[str]:
        """Create kwok-managed fake GPU nodes; see gpu_node_manifests(). Returns their names."""
        wait = kwargs.pop("wait", True)
        manifests = gpu_node_manifests(gpu, count, **kwargs)
        for node in manifests:
            self.api("POST", "/api/v1/nodes", node)
        names = [n["metadata"]["name"] for n in manifests]
        if wait:
            self.wait_nodes_ready(names)
        return names

    def wait_nodes_ready(self, names: Sequence[str], timeout: float = 60) -> None:
        """Until kwok reports Ready and the node-lifecycle controller dropped the not-ready
        taint, so the scheduler can place pods there."""
        deadline = time.monotonic() + timeout
        pending = list(names)
        while pending:
            node = self.api("GET", f"/api/v1/nodes/{pending[0]}")
            ready = any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in node.get("status", {}).get("conditions", [])
            )
            tainted = any(
                t.get("key", "").startswith("node.kubernetes.io/")
                for t in node.get("spec", {}).get("taints", [])
            )
            if ready and not tainted:
                pending.pop(0)
                continue
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"node {pending[0]} not Ready/untainted after {timeout:.0f}s "
                    f"(ready={ready}, taints={node.get('spec', {}).get('taints')}); "
                    f"see {self.log_file('kwok')} and {self.log_file('controller-manager')}"
                )
            time.sleep(0.2)

    def delete_nodes(self, names: Sequence[str]) -> None:
        for name in names:
            with contextlib.suppress(ClusterError):
                self.api("DELETE", f"/api/v1/nodes/{name}")


def create_gpu_nodes(run_dir: Path | str, gpu: str, count: int = 1, **kwargs: Any) -> list[str]:
    return Cluster.load(run_dir).create_gpu_nodes(gpu, count, **kwargs)
