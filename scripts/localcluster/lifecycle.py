"""`up()` and `down()`: bring the whole control plane up in order, and stop it again."""

from __future__ import annotations

import contextlib
import shutil
import time
from pathlib import Path

from .build import build
from .cluster import Cluster
from .config import (
    ALL_BINARIES,
    KWOK_NODE_ANNOTATION,
    POD_CIDR,
    SERVICE_CIDR,
    STAGES_FILE,
    START_TIMEOUT_S,
    STATE_FILE,
    ClusterError,
    log,
)
from .gobuild import _is_exe
from .pki import make_pki, write_kubeconfig
from .processes import _get_ok, _insecure_ctx, _stop, free_port


def up(
    run_dir: Path | str,
    *,
    bin_dir: Path | None = None,
    timeout: float = START_TIMEOUT_S,
    die_with_parent: bool = False,
) -> Cluster:
    """Start etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok.

    Writes run_dir/kubeconfig. With die_with_parent=True every process gets SIGTERM when the
    calling thread's process dies (even by SIGKILL); a test session should use that, the
    CLI must not. On any failure the processes started so far are stopped again.
    """
    run_dir = Path(run_dir).resolve()
    if (run_dir / STATE_FILE).exists():
        old = Cluster.load(run_dir)
        if old.pids():
            raise ClusterError(f"a cluster is already running in {run_dir} (pids {old.pids()})")
    bin_dir = Path(bin_dir) if bin_dir else build()
    for name in ALL_BINARIES:
        if not _is_exe(bin_dir / name):
            raise ClusterError(f"missing binary {bin_dir / name}; run `local-cluster build`")
    run_dir.mkdir(parents=True, exist_ok=True)
    names = ("etcd", "etcd-peer", "apiserver", "controller-manager", "scheduler", "kwok")
    t0 = time.monotonic()
    for attempt in (1, 2, 3):
        for sub in ("etcd", "logs", "pki"):
            shutil.rmtree(run_dir / sub, ignore_errors=True)
        ports: dict[str, int] = {}
        while len(ports) < len(names):  # distinct free ports
            p = free_port()
            if p not in ports.values():
                ports[names[len(ports)]] = p
        c = Cluster(run_dir, bin_dir, ports, die_with_parent=die_with_parent)
        try:
            _bring_up(c, timeout)
            break
        except BaseException as e:
            _stop_all(c)
            # A free port can be taken by someone else between probing and binding.
            if attempt < 3 and isinstance(e, ClusterError) and "address already in use" in str(e):
                log(f"port clash ({e.__class__.__name__}); retrying with new ports")
                continue
            raise
    log(f"control plane ready in {time.monotonic() - t0:.1f}s: KUBECONFIG={c.kubeconfig}")
    return c


def _bring_up(c: Cluster, timeout: float) -> None:
    run, b, ports, p = c.run_dir, c.bin_dir, c.ports, c.pki
    make_pki(p)
    write_kubeconfig(c.kubeconfig, p, ports["apiserver"])
    c.save()
    etcd_url = f"http://127.0.0.1:{ports['etcd']}"
    peer_url = f"http://127.0.0.1:{ports['etcd-peer']}"
    c._start(
        "etcd",
        [
            str(b / "etcd"),
            "--name=aiplane",
            f"--data-dir={run / 'etcd'}",
            "--unsafe-no-fsync=true",
            "--log-level=warn",
            "--auto-compaction-retention=1",
            "--quota-backend-bytes=4294967296",
            f"--listen-client-urls={etcd_url}",
            f"--advertise-client-urls={etcd_url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=aiplane={peer_url}",
            "--listen-metrics-urls=",
        ],
    )
    c._wait("etcd", lambda: _get_ok(f"{etcd_url}/health"), timeout, f"etcd {etcd_url}/health")
    log("etcd healthy")
    c._start("apiserver", c.apiserver_argv())
    c.wait_apiserver(timeout)
    log("kube-apiserver ready")
    (run / "scheduler.yaml").write_text(
        "apiVersion: kubescheduler.config.k8s.io/v1\n"
        "kind: KubeSchedulerConfiguration\n"
        f"clientConnection:\n  kubeconfig: {c.kubeconfig}\n  qps: 100\n  burst: 200\n"
        "leaderElection:\n  leaderElect: false\n"
    )
    always_allow = "--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics"
    c._start(
        "controller-manager",
        [
            str(b / "kube-controller-manager"),
            f"--kubeconfig={c.kubeconfig}",
            "--leader-elect=false",
            "--bind-address=127.0.0.1",
            f"--secure-port={ports['controller-manager']}",
            always_allow,
            f"--root-ca-file={p / 'ca.crt'}",
            f"--service-account-private-key-file={p / 'sa.key'}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--use-service-account-credentials=false",
            "--kube-api-qps=100",
            "--kube-api-burst=200",
            "--node-monitor-period=2s",
            "--profiling=false",
        ],
    )
    c._start(
        "scheduler",
        [
            str(b / "kube-scheduler"),
            f"--config={run / 'scheduler.yaml'}",
            "--bind-address=127.0.0.1",
            f"--secure-port={ports['scheduler']}",
            always_allow,
            "--profiling=false",
        ],
    )
    # kwok reads ~/.kwok/kwok.yaml when it exists; an empty HOME keeps a user's file out.
    kwok_home = run / "kwok-home"
    kwok_home.mkdir(exist_ok=True)
    kwok_argv = [
        str(b / "kwok"),
        f"--kubeconfig={c.kubeconfig}",
        f"--config={b / STAGES_FILE}",
        "--manage-all-nodes=false",
        "--manage-nodes-with-annotation-selector=" + "=".join(KWOK_NODE_ANNOTATION),
        f"--cidr={POD_CIDR}",
        "--node-ip=127.0.0.1",
        "--node-lease-duration-seconds=40",
        f"--server-address=127.0.0.1:{ports['kwok']}",
    ]
    c._start("kwok", kwok_argv, env={"HOME": str(kwok_home)})
    insecure = _insecure_ctx()
    for name, url in (
        ("controller-manager", f"https://127.0.0.1:{ports['controller-manager']}/healthz"),
        ("scheduler", f"https://127.0.0.1:{ports['scheduler']}/healthz"),
        ("kwok", f"http://127.0.0.1:{ports['kwok']}/healthz"),
    ):
        c._wait(name, lambda url=url: _get_ok(url, insecure), timeout, f"{name} {url}")
        log(f"{name} healthy")


def _stop_all(c: Cluster) -> None:
    order = ("kwok", "scheduler", "controller-manager", "apiserver", "etcd")
    for name in sorted(c.procs, key=lambda n: order.index(n) if n in order else -1):
        _stop(c.procs[name])
    with contextlib.suppress(OSError):
        c.save()


def down(run_dir: Path | str, *, keep_dir: bool = False) -> None:
    """Stop exactly the processes recorded in run_dir (checked by pid and start time), then
    remove run_dir. Safe to call twice or on a half-started cluster."""
    run_dir = Path(run_dir).resolve()
    if (run_dir / STATE_FILE).exists():
        _stop_all(Cluster.load(run_dir))
    if not keep_dir:
        shutil.rmtree(run_dir, ignore_errors=True)
