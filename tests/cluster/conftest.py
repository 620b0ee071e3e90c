"""Fixtures for tests against a real local control plane (see scripts/local_cluster.py).

One control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok) runs
for the whole pytest session, on 127.0.0.1 with free ports, in a temporary run directory.
The binaries are built from Go modules on first use and cached (~/.cache/aiplane/...); a
cold build takes a long while, so `scripts/local-cluster build` first shows progress. If the
build or the start fails, every cluster test ERRORS (it is never skipped).

Fixtures
--------
control_plane  (session)  a ``local_cluster.Cluster``, up, with the CRDs from ../shared/crds
                          installed and Established:
    .kubeconfig: Path            kubeconfig with inline certs (cluster admin)
    .run_dir: Path               run directory (logs in run_dir/logs/<component>.log)
    .bin_dir: Path               etcd, kube-apiserver, ..., kubectl
    .api_url: str                https://127.0.0.1:<port>
    .kubectl(*args, input=None, check=True, timeout=120) -> CompletedProcess[str]
    .api(method, path, body=None) -> decoded JSON (stdlib HTTPS as admin)
    .create_gpu_nodes(gpu, count, name_prefix=..., gpus_per_node=8, mig_strategy=...,
                      mig_layout="3g.40gb=1,...", labels={...}) -> [node names]
    .delete_nodes(names)
    .stop_apiserver(kill=False)  .start_apiserver()  .restart_apiserver(kill=False)
                                 (same port, same etcd; waits for /readyz on start)
    .ensure_apiserver()          start it again if a test left it stopped
kubeconfig     (session)  Path of the kubeconfig; ``kubectl`` (session) the kubectl helper.
namespace      (function) name of a fresh namespace, deleted (without waiting) after the test.
gpu_nodes      (function) factory ``gpu_nodes(gpu, count=1, **kw) -> [names]``: node names are
                          unique to the test; the nodes are deleted after it.
local_cluster  (session)  the scripts/local_cluster.py module.

Environment
-----------
AIPLANE_SKIP_CLUSTER=1    deselect the cluster tests (quick local runs); or ``-m "not cluster"``.
AIPLANE_CRDS_DIR          CRD directory (default <repo>/../shared/crds).
AIPLANE_CLUSTER_BIN / KUBEBUILDER_ASSETS / AIPLANE_CLUSTER_CACHE   see local_cluster.py.
AIPLANE_CLUSTER_KEEP_LOGS=DIR   copy the component logs there at teardown (for CI artifacts).
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
_SCRIPT = REPO / "scripts" / "local_cluster.py"
RUN_DIR_PREFIX = "aiplane-cluster-"


def _load_local_cluster() -> ModuleType:
    if "local_cluster" in sys.modules:
        return sys.modules["local_cluster"]
    spec = importlib.util.spec_from_file_location("local_cluster", _SCRIPT)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["local_cluster"] = mod
    spec.loader.exec_module(mod)
    return mod


lc = _load_local_cluster()


def _skip_requested() -> bool:
    value = os.environ.get("AIPLANE_SKIP_CLUSTER", "").strip().lower()
    return value not in ("", "0", "false", "no")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not _skip_requested():
        return
    here = Path(__file__).parent
    drop = [i for i in items if i.get_closest_marker("cluster") or here in i.path.parents]
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = [i for i in items if i not in drop]


def crds_dir() -> Path:
    env = os.environ.get("AIPLANE_CRDS_DIR")
    return Path(env) if env else REPO.parent / "shared" / "crds"


def crd_files(root: Path) -> list[Path]:
    """Every YAML file under root that holds a CustomResourceDefinition."""
    found = []
    for path in sorted(root.rglob("*.y*ml")):
        head = path.read_text(errors="replace")
        if re.search(r"^kind:\s*CustomResourceDefinition\s*$", head, re.M):
            found.append(path)
    return found


def install_crds(cluster: Any, root: Path) -> list[Path]:
    files = crd_files(root)
    if not files:
        raise lc.ClusterError(f"no CRD files found under {root}")
    args: list[str] = []
    for f in files:
        args += ["-f", str(f)]
    # server-side: some CRDs are larger than the last-applied annotation allows
    cluster.kubectl("apply", "--server-side", "--force-conflicts", *args, timeout=180)
    cluster.kubectl(
        "wait", "--for=condition=Established", "crd", "--all", "--timeout=120s", timeout=180
    )
    return files


@contextlib.contextmanager
def _uncaptured(config: pytest.Config) -> Iterator[None]:
    """Let build/start progress reach the terminal even though output is captured."""
    capman = config.pluginmanager.getplugin("capturemanager")
    if capman is None:
        yield
        return
    with capman.global_and_fixture_disabled():
        yield


class _Teardown:
    """Idempotent teardown reachable from the fixture finalizer, atexit and signals."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.lock = threading.Lock()
        self.done = False
        self.old_handlers: dict[int, Any] = {}

    def __call__(self) -> None:
        with self.lock:
            if self.done:
                return
            self.done = True
        keep = os.environ.get("AIPLANE_CLUSTER_KEEP_LOGS")
        if keep and (self.run_dir / "logs").is_dir():
            with contextlib.suppress(OSError):
                shutil.copytree(self.run_dir / "logs", Path(keep), dirs_exist_ok=True)
        lc.down(self.run_dir)

    def on_signal(self, signum: int, frame: Any) -> None:
        self()
        old = self.old_handlers.get(signum, signal.SIG_DFL)
        if callable(old):
            old(signum, frame)
        else:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)

    def install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGTERM, signal.SIGHUP):
            self.old_handlers[sig] = signal.signal(sig, self.on_signal)

    def restore_signals(self) -> None:
        for sig, old in self.old_handlers.items():
            with contextlib.suppress(Exception):
                signal.signal(sig, old)


def _remove_stale_run_dirs() -> None:
    """Run dirs left by a session that was SIGKILLed (its processes died with it). A dir is
    left alone while any recorded process lives or it changed in the last 5 minutes (another
    session may be starting up in it)."""
    for d in Path(tempfile.gettempdir()).glob(f"{RUN_DIR_PREFIX}*"):
        with contextlib.suppress(Exception):
            state = d / lc.STATE_FILE
            newest = max(d.stat().st_mtime, state.stat().st_mtime if state.exists() else 0)
            if time.time() - newest < 300:
                continue
            if not state.exists() or not lc.Cluster.load(d).pids():
                shutil.rmtree(d)


@pytest.fixture(scope="session")
def local_cluster() -> ModuleType:
    return lc


@pytest.fixture(scope="session")
def control_plane(request: pytest.FixtureRequest) -> Iterator[Any]:
    error = None
    with _uncaptured(request.config):
        try:
            bin_dir = lc.build()
        except Exception as e:  # a failed build must fail the tests, never skip them
            error = f"building the local control plane failed: {e}"
    if error:
        pytest.fail(error, pytrace=False)
    _remove_stale_run_dirs()
    run_dir = Path(tempfile.mkdtemp(prefix=RUN_DIR_PREFIX))
    teardown = _Teardown(run_dir)
    atexit.register(teardown)
    teardown.install_signals()
    try:
        with _uncaptured(request.config):
            try:
                cluster = lc.up(run_dir, bin_dir=bin_dir, die_with_parent=True)
                crds = crds_dir()
                if not crds.is_dir():
                    raise lc.ClusterError(f"CRD directory {crds} missing (set AIPLANE_CRDS_DIR)")
                files = install_crds(cluster, crds)
                lc.log(f"installed {len(files)} CRD files from {crds}")
            except lc.ClusterError as e:
                error = f"starting the local control plane failed: {e}"
        if error:
            pytest.fail(error, pytrace=False)
        yield cluster
    finally:
        teardown()
        teardown.restore_signals()
        atexit.unregister(teardown)


@pytest.fixture(scope="session")
def kubeconfig(control_plane: Any) -> Path:
    return Path(control_plane.kubeconfig)


@pytest.fixture(scope="session")
def kubectl(control_plane: Any) -> Callable[..., Any]:
    return control_plane.kubectl


def _slug(request: pytest.FixtureRequest, maxlen: int) -> str:
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")
    name = name.removeprefix("test-")[:maxlen].strip("-") or "t"
    return f"{name}-{uuid.uuid4().hex[:5]}"


@pytest.fixture
def namespace(control_plane: Any, request: pytest.FixtureRequest) -> Iterator[str]:
    name = "t-" + _slug(request, 48)
    control_plane.kubectl("create", "namespace", name)
    yield name
    control_plane.ensure_apiserver()
    control_plane.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found")


@pytest.fixture
def gpu_nodes(control_plane: Any, request: pytest.FixtureRequest) -> Iterator[Callable[..., Any]]:
    created: list[str] = []
    slug = _slug(request, 30)

    def make(gpu: str, count: int = 1, **kwargs: Any) -> list[str]:
        kwargs.setdefault("name_prefix", f"{slug}-{gpu.lower()}-{len(created)}-")
        names: list[str] = control_plane.create_gpu_nodes(gpu, count, **kwargs)
        created.extend(names)
        return names

    yield make
    if created:
        control_plane.ensure_apiserver()
        control_plane.delete_nodes(created)


@pytest.fixture(autouse=True, scope="module")
def cluster_scoped_cleanup(request: pytest.FixtureRequest) -> Iterator[None]:
    """Remove the cluster-scoped objects a module's stacks leave behind (PriorityClasses, the
    GPU Operator's ConfigMaps, the ClusterPolicy aiplane configures): namespaces are per test, these
    are not, and aiplane rightly refuses to adopt another module's leftovers. Per module: the
    collisions were across modules, and deleting between a module's own tests adds nothing."""
    plane = request.getfixturevalue("control_plane")
    yield
    managed = "app.kubernetes.io/managed-by=aiplane"
    plane.kubectl("delete", "priorityclass", "-l", managed, "--timeout=60s", check=False)
    for kind in ("priorityclass", "workloadpriorityclass"):
        _delete_shared_by_stacks(plane, kind)
    plane.kubectl("delete", "configmap", "-n", "gpu-operator", "-l", managed, "--timeout=60s",
                  check=False)  # fmt: skip
    # the GPU Operator's ConfigMaps are shared by stacks: no ownership labels, found by name
    plane.kubectl("delete", "configmap", "-n", "gpu-operator", "aiplane-mig-parted-config",
                  "aiplane-device-plugin-config", "--ignore-not-found", "--timeout=60s",
                  check=False)  # fmt: skip
    plane.kubectl("delete", "clusterpolicy", "--all", "--timeout=60s", check=False)


def _delete_shared_by_stacks(plane: Any, kind: str) -> None:
    """Objects stacks share by field carry no labels: find them by their stack field managers."""
    res = plane.kubectl("get", kind, "-o", "json", "--show-managed-fields", check=False)
    if res.returncode != 0:
        return
    names = [
        item["metadata"]["name"]
        for item in json.loads(res.stdout).get("items", [])
        if any(str(e.get("manager", "")).startswith("aiplane-")
               for e in item["metadata"].get("managedFields") or [])
    ]  # fmt: skip
    if names:
        plane.kubectl("delete", kind, *names, "--timeout=60s", check=False)
