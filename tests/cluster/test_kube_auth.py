"""How users log in, against the real local control plane: exec credential plugins minting
ServiceAccount tokens (TokenRequest), merged KUBECONFIG lists, in-cluster configuration, and
apply's signal handling and timeouts.

The plugin is a script this file writes: each run counts itself, creates a Secret and asks the
TokenRequest API for a token bound to it, so deleting that Secret revokes the token (the API
server then answers 401) without touching any other run's credential.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_plan_apply_support import bundle, model_objects

pytestmark = pytest.mark.cluster
REPO = Path(__file__).resolve().parents[2]
V1 = "client.authentication.k8s.io/v1"

PLUGIN = """\
import datetime, json, os, subprocess, sys
from pathlib import Path
here = Path(__file__).parent
count = here / "count"
n = int(count.read_text()) + 1 if count.exists() else 1
count.write_text(str(n))
if (here / "mode").exists() and (here / "mode").read_text() == "fail":
    print("looking up the cluster", file=sys.stderr)
    print("error: the SSO session has expired; log in again", file=sys.stderr)
    sys.exit(2)
cfg = json.loads((here / "cfg.json").read_text())
kubectl = [cfg["kubectl"], "--kubeconfig", cfg["admin"], "-n", cfg["namespace"]]
secret = f"bind-{n}"
subprocess.run(kubectl + ["create", "secret", "generic", secret], check=True,
               capture_output=True)
token = subprocess.run(
    kubectl + ["create", "token", cfg["sa"], "--duration=10m", "--bound-object-kind=Secret",
               f"--bound-object-name={secret}"],
    check=True, capture_output=True, text=True).stdout.strip()
lifetime = float((here / "lifetime").read_text())
expires = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=lifetime)
print(json.dumps({"apiVersion": sys.argv[1], "kind": "ExecCredential",
                  "status": {"token": token,
                             "expirationTimestamp": expires.isoformat().replace("+00:00", "Z")}}))
"""


@dataclass
class Login:
    """A ServiceAccount with cluster-admin, and a kubeconfig whose user is the exec plugin."""

    dir: Path
    kubeconfig: Path
    namespace: str
    sa: str
    kubectl: Any

    @property
    def runs(self) -> int:
        count = self.dir / "count"
        return int(count.read_text()) if count.exists() else 0

    def lifetime(self, seconds: float) -> None:
        (self.dir / "lifetime").write_text(str(seconds))

    def revoke_current(self) -> None:
        self.kubectl("delete", "secret", f"bind-{self.runs}", "-n", self.namespace)


def admin_cluster(admin: Path) -> dict[str, Any]:
    doc = yaml.safe_load(admin.read_text())
    cluster: dict[str, Any] = doc["clusters"][0]["cluster"]
    return cluster


def exec_kubeconfig(path: Path, cluster: dict[str, Any], exec_section: dict[str, Any]) -> Path:
    doc = {
        "apiVersion": "v1", "kind": "Config", "current-context": "eks-prod",
        "clusters": [{"name": "prod", "cluster": cluster}],
        "users": [{"name": "sso", "user": {"exec": exec_section}}],
        "contexts": [{"name": "eks-prod", "context": {"cluster": "prod", "user": "sso"}}],
    }  # fmt: skip
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.fixture
def login(control_plane: Any, namespace: str, tmp_path: Path) -> Iterator[Login]:
    sa = "deployer"
    kubectl = control_plane.kubectl
    kubectl("create", "serviceaccount", sa, "-n", namespace)
    binding = f"{namespace}-deployer"
    kubectl("create", "clusterrolebinding", binding, "--clusterrole=cluster-admin",
            f"--serviceaccount={namespace}:{sa}")  # fmt: skip
    plugin_dir = tmp_path / "plugin"
    plugin_dir.mkdir()
    (plugin_dir / "plugin.py").write_text(PLUGIN)
    (plugin_dir / "cfg.json").write_text(json.dumps({
        "kubectl": str(control_plane.bin_dir / "kubectl"),
        "admin": str(control_plane.kubeconfig), "namespace": namespace, "sa": sa}))  # fmt: skip
    section = {"apiVersion": V1, "command": sys.executable,
               "args": [str(plugin_dir / "plugin.py"), V1], "interactiveMode": "IfAvailable",
               "installHint": "pip install our-sso-plugin"}  # fmt: skip
    config = exec_kubeconfig(tmp_path / "kubeconfig", admin_cluster(control_plane.kubeconfig),
                             section)  # fmt: skip
    result = Login(plugin_dir, config, namespace, sa, kubectl)
    result.lifetime(600)
    yield result
    control_plane.ensure_apiserver()
    kubectl("delete", "clusterrolebinding", binding, "--ignore-not-found")


def aiplane(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    full = {**os.environ, "NO_COLOR": "1", "AIPLANE_HEALTH_TIMEOUT": "60", **env}
    full.pop("KUBERNETES_SERVICE_HOST", None)
    return subprocess.Popen(
        [sys.executable, "-m", "aiplane", *args], cwd=REPO, env=full, text=True,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def run(*args: str, env: dict[str, str], code: int) -> str:
    proc = aiplane(*args, env=env)
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == code, f"exit {proc.returncode}\nstdout:\n{out}\nstderr:\n{err}"
    return out + err


def write_stack(tmp_path: Path, stack: str, items: list[dict[str, Any]]) -> str:
    path = tmp_path / "stack.json"
    path.write_text(bundle(stack, items))
    return str(path)


def stuck(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Make the model's Deployment unschedulable, so its health wait never ends by itself."""
    for item in items:
        if item["kind"] == "Deployment":
            item["spec"]["template"]["spec"]["nodeSelector"] = {"aiplane.test/none": "x"}
    return items


def wait_for(check: Any, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_exec_plugin_drives_plan_and_apply_once_per_credential_lifetime(
    login: Login, tmp_path: Path, gpu_nodes: Any
) -> None:
    gpu_nodes("A100", 1)
    env = {"KUBECONFIG": str(login.kubeconfig)}
    file = write_stack(tmp_path, login.namespace, model_objects(login.namespace,
                                                                login.namespace, "m"))  # fmt: skip
    run("plan", file, "--detailed-exitcode", env=env, code=2)
    assert login.runs == 1  # dozens of requests, one plugin run
    out = run("apply", file, "--yes", env=env, code=0)
    assert "apply complete" in out and login.runs == 2
    assert "no changes" in run("plan", file, env=env, code=0)
    assert login.runs == 3


def test_expired_credential_runs_the_plugin_again(login: Login, tmp_path: Path) -> None:
    env = {"KUBECONFIG": str(login.kubeconfig)}
    items = stuck(model_objects(login.namespace, login.namespace, "m"))
    file = write_stack(tmp_path, login.namespace, items)
    # long lifetime: one run for a whole apply that waits ~4 s; then --timeout names the object
    out = run("apply", file, "--yes", "--timeout", "4s", env=env, code=1)
    assert f"Deployment/{login.namespace}/m: not healthy after" in out
    assert login.runs == 1
    login.lifetime(1.5)
    items = stuck(
        model_objects(login.namespace, login.namespace, "m", image="vllm/vllm-openai:v0.6.1")
    )  # a change: apply waits again
    file = write_stack(tmp_path, login.namespace, items)
    out = run("apply", file, "--yes", "--timeout", "4s", env=env, code=1)
    assert f"Deployment/{login.namespace}/m: not healthy after" in out
    assert login.runs >= 1 + 3, login.runs  # over 4 s of requests with 1.5 s credentials


def test_revoked_token_reruns_plugin_once_then_sigterm_stops_cleanly(
    login: Login, tmp_path: Path, gpu_nodes: Any
) -> None:
    env = {"KUBECONFIG": str(login.kubeconfig)}
    items = stuck(model_objects(login.namespace, login.namespace, "m"))
    file = write_stack(tmp_path, login.namespace, items)
    proc = aiplane("apply", file, "--yes", "--timeout", "120s", env=env)
    try:
        deployment = ("get", "deployment", "m", "-n", login.namespace)
        wait_for(lambda: login.kubectl(*deployment, check=False).returncode == 0, "the apply")
        time.sleep(1.0)  # into the health wait
        assert login.runs == 1
        login.revoke_current()  # the API server now answers 401 to that token
        wait_for(lambda: login.runs == 2, "the plugin to run again after the 401", 30)
        time.sleep(2.0)  # keeps polling with the new token
        assert proc.poll() is None and login.runs == 2
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, f"stdout:\n{out}\nstderr:\n{err}"
    assert "Unauthorized" not in out + err
    assert "stopped by SIGTERM" in err and "applied " in err
    lease = login.kubectl("get", "lease", f"aiplane-lock-{login.namespace}", "-n",
                          "aiplane-system", check=False)  # fmt: skip
    assert lease.returncode != 0, "the stack lock is still held"
    # the rerun converges once the Deployment can run
    gpu_nodes("A100", 1)
    file = write_stack(tmp_path, login.namespace, model_objects(login.namespace,
                                                                login.namespace, "m"))  # fmt: skip
    assert "apply complete" in run("apply", file, "--yes", env=env, code=0)
    assert "no changes" in run("plan", file, env=env, code=0)


def test_failing_plugin_and_interactive_plugin_off_a_terminal(login: Login, tmp_path: Path) -> None:
    env = {"KUBECONFIG": str(login.kubeconfig)}
    file = write_stack(tmp_path, login.namespace, [])
    (login.dir / "mode").write_text("fail")
    out = run("plan", file, env=env, code=1)
    lines = out.strip().splitlines()
    assert len(lines) == 1, out
    assert lines[0].startswith("error: context eks-prod: credential plugin `")
    assert "plugin.py client.authentication.k8s.io/v1` exited with status 2: " in lines[0]
    assert "error: the SSO session has expired; log in again" in lines[0]
    assert "looking up the cluster" not in out
    (login.dir / "mode").unlink()
    doc = yaml.safe_load(login.kubeconfig.read_text())
    doc["users"][0]["user"]["exec"]["interactiveMode"] = "Always"
    login.kubeconfig.write_text(yaml.safe_dump(doc))
    out = run("plan", file, env=env, code=1)
    assert "needs a terminal (interactiveMode: Always) and stdin is not one; run `" in out
    doc["users"][0]["user"]["exec"]["interactiveMode"] = "Never"
    doc["users"][0]["user"]["exec"]["command"] = "aiplane-test-no-such-plugin"
    login.kubeconfig.write_text(yaml.safe_dump(doc))
    out = run("plan", file, env=env, code=1)
    assert "`aiplane-test-no-such-plugin` was not found (pip install our-sso-plugin)" in out


def test_merged_kubeconfig_with_a_missing_first_entry(
    login: Login, tmp_path: Path, control_plane: Any
) -> None:
    cluster = admin_cluster(control_plane.kubeconfig)
    first, second = tmp_path / "one", tmp_path / "two"
    first.mkdir()
    second.mkdir()
    (first / "ca.crt").write_bytes(base64.b64decode(cluster.pop("certificate-authority-data")))
    cluster["certificate-authority"] = "ca.crt"  # relative to the file that names it
    (first / "config").write_text(yaml.safe_dump({
        "current-context": "ci",
        "clusters": [{"name": "local", "cluster": cluster}],
        "contexts": [{"name": "ci", "context": {"cluster": "local", "user": "ci"}}]}))  # fmt: skip
    token = login.kubectl("create", "token", login.sa, "-n", login.namespace).stdout.strip()
    (second / "token").write_text(token)
    (second / "config").write_text(yaml.safe_dump({
        "current-context": "ignored",
        "clusters": [{"name": "local", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "ci", "user": {"tokenFile": "token"}}]}))  # fmt: skip
    kubeconfig = os.pathsep.join(str(p) for p in (tmp_path / "missing", first / "config",
                                                  second / "config"))  # fmt: skip
    file = write_stack(tmp_path, login.namespace, [])
    out = run("plan", file, env={"KUBECONFIG": kubeconfig}, code=0)
    assert "context ci" in out or "no changes" in out


def test_in_cluster_configuration_with_a_rotated_token(
    login: Login, tmp_path: Path, control_plane: Any
) -> None:
    sa_dir = tmp_path / "serviceaccount"
    sa_dir.mkdir()
    cluster = admin_cluster(control_plane.kubeconfig)
    (sa_dir / "ca.crt").write_bytes(base64.b64decode(cluster["certificate-authority-data"]))
    (sa_dir / "namespace").write_text(login.namespace)

    def mint(name: str) -> str:
        login.kubectl("create", "secret", "generic", name, "-n", login.namespace)
        return str(login.kubectl("create", "token", login.sa, "-n", login.namespace,
                                 "--bound-object-kind=Secret", f"--bound-object-name={name}"
                                 ).stdout.strip())  # fmt: skip

    (sa_dir / "token").write_text(mint("pod-token-1"))
    port = control_plane.api_url.rsplit(":", 1)[1]
    env = {"KUBECONFIG": str(tmp_path / "none"), "AIPLANE_SERVICEACCOUNT_DIR": str(sa_dir)}
    items = stuck(model_objects(login.namespace, login.namespace, "m"))
    file = write_stack(tmp_path, login.namespace, items)
    full = {**env, "KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": port}
    proc = subprocess.Popen(
        [sys.executable, "-m", "aiplane", "apply", file, "--yes", "--timeout", "8s"],
        cwd=REPO, env={**os.environ, **full, "NO_COLOR": "1"}, text=True,
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deployment = ("get", "deployment", "m", "-n", login.namespace)
        wait_for(lambda: login.kubectl(*deployment, check=False).returncode == 0, "the apply")
        # the kubelet rotates the token: new file, old token revoked
        (sa_dir / "token").write_text(mint("pod-token-2"))
        login.kubectl("delete", "secret", "pod-token-1", "-n", login.namespace)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, f"stdout:\n{out}\nstderr:\n{err}"
    assert f"Deployment/{login.namespace}/m: not healthy after" in err  # polled to the end
    assert "Unauthorized" not in out + err


def token_kubeconfig(path: Path, cluster: dict[str, Any], token: str) -> Path:
    doc = {
        "apiVersion": "v1", "kind": "Config", "current-context": "least",
        "clusters": [{"name": "local", "cluster": cluster}],
        "users": [{"name": "sa", "user": {"token": token}}],
        "contexts": [{"name": "least", "context": {"cluster": "local", "user": "sa"}}],
    }  # fmt: skip
    path.write_text(yaml.safe_dump(doc))
    return path


def test_least_privilege_from_aiplane_rbac(
    control_plane: Any, namespace: str, tmp_path: Path, gpu_nodes: Any
) -> None:
    from test_plan_apply_support import priority

    kubectl = control_plane.kubectl
    gpu_nodes("A100", 1)
    items = [priority(namespace), *model_objects(namespace, namespace, "m")]
    file = write_stack(tmp_path, namespace, items)
    kubectl("create", "serviceaccount", "ns-admin", "-n", namespace)
    system_ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "aiplane-system"}}
    kubectl("apply", "-f", "-", input=json.dumps(system_ns))
    rbac = run("rbac", file, "--service-account", f"{namespace}:ns-admin", env={}, code=0)
    docs = [d for d in yaml.safe_load_all(rbac) if d]
    kinds = sorted(d["kind"] for d in docs)
    assert kinds == ["ClusterRole", "ClusterRoleBinding", "Role", "Role", "RoleBinding",
                     "RoleBinding"], kinds  # fmt: skip  # stack namespace + aiplane-system
    cluster_rules = next(d for d in docs if d["kind"] == "ClusterRole")["rules"]
    assert {r["resources"][0] for r in cluster_rules} == {"namespaces", "priorityclasses"}
    kubectl("apply", "-f", "-", input=rbac)
    cluster_role = f"aiplane-{namespace}-apply"
    try:
        token = kubectl("create", "token", "ns-admin", "-n", namespace).stdout.strip()
        config = token_kubeconfig(tmp_path / "config", admin_cluster(control_plane.kubeconfig),
                                  token)  # fmt: skip
        env = {"KUBECONFIG": str(config)}
        # nothing cluster-wide for namespaced kinds: a 403 would fail the plan
        run("plan", file, "--detailed-exitcode", env=env, code=2)
        assert "apply complete" in run("apply", file, "--yes", env=env, code=0)
        assert "no changes" in run("plan", file, env=env, code=0)
        # one rule less: every permission it granted is listed, in one run
        role = next(d for d in docs if d["kind"] == "Role" and d["metadata"]["namespace"] ==
                    namespace)  # fmt: skip
        role["rules"] = [r for r in role["rules"] if r["resources"] != ["deployments"]]
        kubectl("apply", "-f", "-", input=json.dumps(role))
        out = run("plan", file, env=env, code=1)
        for verb in ("create", "get", "list", "patch"):
            assert f"cannot {verb} deployments.apps in {namespace}" in out, out
        assert "4 permission(s) missing for plan" in out
        items[0]["value"] = 2000  # a change apply would write first (cluster-config stage)
        file = write_stack(tmp_path, namespace, items)
        before = kubectl("get", "priorityclass", namespace + "-training", "-o", "json").stdout
        out = run("apply", file, "--yes", env=env, code=1)
        assert "5 permission(s) missing for apply" in out  # and delete
        after = kubectl("get", "priorityclass", namespace + "-training", "-o", "json").stdout
        assert json.loads(after)["value"] == json.loads(before)["value"] == 1000
        lease = kubectl("get", "lease", f"aiplane-lock-{namespace}", "-n", "aiplane-system",
                        check=False)  # fmt: skip
        assert lease.returncode != 0  # not even the lock was taken
    finally:
        kubectl("delete", "clusterrole,clusterrolebinding", cluster_role, "--ignore-not-found")
        kubectl("delete", "role,rolebinding", cluster_role, "-n", "aiplane-system",
                "--ignore-not-found")  # fmt: skip
        kubectl("delete", "priorityclass", namespace + "-training", "--ignore-not-found")


class ConnectProxy:
    """A minimal HTTP CONNECT proxy on loopback that counts the tunnels it opened."""

    def __init__(self) -> None:
        import socket
        import threading

        self.tunnels: list[str] = []
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(16)
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import threading

        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._tunnel, args=(conn,), daemon=True).start()

    def _tunnel(self, conn: Any) -> None:
        import socket
        import threading

        head = b""
        while b"\r\n\r\n" not in head:
            chunk = conn.recv(4096)
            if not chunk:
                conn.close()
                return
            head += chunk
        target = head.split(b" ")[1].decode()
        self.tunnels.append(target)
        host, port = target.rsplit(":", 1)
        upstream = socket.create_connection((host, int(port)))
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")

        def pipe(src: Any, dst: Any) -> None:
            try:
                while data := src.recv(65536):
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                for s in (src, dst):
                    with contextlib.suppress(OSError):
                        s.shutdown(socket.SHUT_RDWR)

        threading.Thread(target=pipe, args=(upstream, conn), daemon=True).start()
        pipe(conn, upstream)

    def close(self) -> None:
        self.server.close()


def test_tls_server_name_and_proxy_url(control_plane: Any, tmp_path: Path) -> None:
    admin = yaml.safe_load(Path(control_plane.kubeconfig).read_text())
    file = write_stack(tmp_path, "tls-" + tmp_path.name[-8:].lower().strip("_-"), [])
    cluster = admin["clusters"][0]["cluster"]

    def plan_with(**extra: Any) -> tuple[int, str]:
        doc = json.loads(json.dumps(admin))
        doc["clusters"][0]["cluster"] = {**cluster, **extra}
        path = tmp_path / "config"
        path.write_text(yaml.safe_dump(doc))
        proc = aiplane("plan", file, env={"KUBECONFIG": str(path)})
        out, err = proc.communicate(timeout=120)
        return proc.returncode, out + err

    code, out = plan_with(**{"tls-server-name": "kubernetes.default.svc"})
    assert code == 0, out
    code, out = plan_with(**{"tls-server-name": "not-in-the-certificate.example"})
    assert code == 1 and "certificate" in out.lower(), out
    proxy = ConnectProxy()
    try:
        code, out = plan_with(**{"proxy-url": f"http://127.0.0.1:{proxy.port}"})
    finally:
        proxy.close()
    assert code == 0, out
    assert proxy.tunnels and set(proxy.tunnels) == {control_plane.api_url.removeprefix("https://")}
