"""A real, local Kubernetes control plane for aiplane's tests, built from Go modules.

etcd + kube-apiserver + kube-controller-manager + kube-scheduler run on 127.0.0.1, and kwok
plays the kubelet for fake GPU nodes, so that pods requesting GPUs are scheduled by the real
scheduler and become Running. Nothing is downloaded except Go modules through the Go module
proxy; no Docker is needed.

Command line (``scripts/local-cluster`` is a thin wrapper around this module)::

    local-cluster build                      # build or reuse cached binaries, print their dir
    local-cluster up --dir D                 # start everything, print D/kubeconfig
    local-cluster nodes --dir D --gpu H100-80GB --count 2
    local-cluster nodes --dir D --gpu H100-80GB --count 1 --mig-strategy mixed \\
        --mig-layout 3g.40gb=1,2g.20gb=1,1g.10gb=2
    local-cluster stop-apiserver --dir D [--kill] / start-apiserver --dir D / restart-apiserver
    local-cluster status --dir D
    local-cluster down --dir D               # stop exactly the processes `up` started, rm D

As a library (stdlib only, Python >= 3.11)::

    import local_cluster as lc
    bin_dir = lc.build()
    cluster = lc.up(run_dir)                 # -> Cluster
    cluster.create_gpu_nodes("H100-80GB", count=1, name_prefix="t1-h100-")
    cluster.kubectl("get", "nodes")
    cluster.restart_apiserver()
    lc.down(run_dir)

Environment:
    AIPLANE_CLUSTER_BIN     directory with prebuilt binaries (etcd, kube-apiserver, ...); used
                            instead of building (missing ones are still built)
    KUBEBUILDER_ASSETS      same, e.g. from setup-envtest (it has etcd, kube-apiserver, kubectl)
    AIPLANE_CLUSTER_CACHE   cache root (default ~/.cache/aiplane); binaries land in
                            <root>/k8s-v1.34.2_etcd-v3.6.14_kwok-v0.8.0/
    AIPLANE_K8S_VERSION, AIPLANE_ETCD_VERSION, AIPLANE_KWOK_VERSION   version overrides
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import ctypes
import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

K8S_VERSION = os.environ.get("AIPLANE_K8S_VERSION", "1.34.2")
ETCD_VERSION = os.environ.get("AIPLANE_ETCD_VERSION", "3.6.14")
KWOK_VERSION = os.environ.get("AIPLANE_KWOK_VERSION", "0.8.0")

K8S_BINARIES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")
ALL_BINARIES = ("etcd", "kwok", *K8S_BINARIES)
STAGES_FILE = "kwok-stages.yaml"
# kwok v0.8 has no built-in stages; these are the files of its "fast" kustomization.
KWOK_STAGE_FILES = (
    "kustomize/stage/node/fast/node-initialize.yaml",
    "kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml",
    "kustomize/stage/pod/fast/pod-ready.yaml",
    "kustomize/stage/pod/fast/pod-complete.yaml",
    "kustomize/stage/pod/fast/pod-delete.yaml",
)
KWOK_NODE_ANNOTATION = ("kwok.x-k8s.io/node", "fake")
STATE_FILE = "cluster.json"
START_TIMEOUT_S = 120.0
SERVICE_CIDR = "10.0.0.0/24"
POD_CIDR = "10.244.0.0/16"

_T0 = time.monotonic()


class ClusterError(RuntimeError):
    """Build or start failed; the message says what to look at."""


def log(msg: str) -> None:
    print(f"[local-cluster {time.monotonic() - _T0:7.1f}s] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# build
# --------------------------------------------------------------------------------------------


def cache_root() -> Path:
    env = os.environ.get("AIPLANE_CLUSTER_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "aiplane"


def cache_dir() -> Path:
    """Where `build` puts binaries: keyed by the three versions."""
    return cache_root() / f"k8s-v{K8S_VERSION}_etcd-v{ETCD_VERSION}_kwok-v{KWOK_VERSION}"


def _override_dirs() -> list[Path]:
    dirs = []
    for var in ("AIPLANE_CLUSTER_BIN", "KUBEBUILDER_ASSETS"):
        val = os.environ.get(var)
        if val and Path(val).expanduser().is_dir():
            dirs.append(Path(val).expanduser().resolve())
    return dirs


def _is_exe(p: Path) -> bool:
    return p.is_file() and os.access(p, os.X_OK)


def _stream(
    cmd: Sequence[str], *, cwd: Path, env: dict[str, str], logfile: Path, what: str
) -> None:
    """Run a (long) command; tee its output to logfile, print a heartbeat every 30 s."""
    started = time.monotonic()
    lines = 0
    with logfile.open("a") as out:
        out.write(f"\n$ (cd {cwd} && {' '.join(cmd)})\n")
        out.flush()
        proc = subprocess.Popen(
            list(cmd),
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        stop = threading.Event()

        def heartbeat() -> None:
            while not stop.wait(30):
                log(f"  ... {what}: {time.monotonic() - started:.0f}s, {lines} lines of go output")

        threading.Thread(target=heartbeat, daemon=True).start()
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                lines += 1
                out.write(line)
                if line.startswith("go: downloading") and lines % 25 == 1:
                    log(f"  {line.strip()}")
            rc = proc.wait()
        finally:
            stop.set()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    if rc != 0:
        tail = "".join(logfile.read_text(errors="replace").splitlines(keepends=True)[-40:])
        raise ClusterError(f"{what} failed (exit {rc}); full log: {logfile}\n{tail}")
    log(f"  {what}: done in {time.monotonic() - started:.0f}s")


def _go_env() -> dict[str, str]:
    env = dict(os.environ)
    env["CGO_ENABLED"] = "0"
    env["GOFLAGS"] = (env.get("GOFLAGS", "") + " -mod=mod").strip()
    return env


def _go(args: Sequence[str], cwd: Path, env: dict[str, str]) -> str:
    res = subprocess.run(
        ["go", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if res.returncode != 0:
        raise ClusterError(f"go {' '.join(args)} failed:\n{res.stderr}")
    return res.stdout


def _fresh_module(path: Path, name: str, env: dict[str, str]) -> None:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    _go(["mod", "init", name], path, env)


def _build_etcd(out: Path, work: Path, env: dict[str, str], logfile: Path) -> None:
    mod = work / "etcd"
    _fresh_module(mod, "aiplane.invalid/etcdbin", env)
    # The server module's own `replace ../` lines are ignored when it is a dependency.
    _stream(
        ["go", "get", f"go.etcd.io/etcd/server/v3@v{ETCD_VERSION}"],
        cwd=mod, env=env, logfile=logfile, what="etcd: go get",
    )  # fmt: skip
    _stream(
        ["go", "build", "-v", "-trimpath", "-ldflags", "-s -w", "-o", str(out / "etcd"),
         "go.etcd.io/etcd/server/v3"],
        cwd=mod, env=env, logfile=logfile, what="etcd: go build",
    )  # fmt: skip


def _build_kwok(out: Path, work: Path, env: dict[str, str], logfile: Path) -> None:
    work.mkdir(parents=True, exist_ok=True)
    env = dict(env, GOBIN=str(out))
    _stream(
        ["go", "install", "-v", "-trimpath", "-ldflags", "-s -w",
         f"sigs.k8s.io/kwok/cmd/kwok@v{KWOK_VERSION}"],
        cwd=work, env=env, logfile=logfile, what="kwok: go install",
    )  # fmt: skip


def _write_kwok_stages(out: Path, work: Path, env: dict[str, str]) -> None:
    work.mkdir(parents=True, exist_ok=True)
    info = json.loads(
        _go(["mod", "download", "-json", f"sigs.k8s.io/kwok@v{KWOK_VERSION}"], work, env)
    )
    src = Path(info["Dir"])
    docs = []
    for rel in KWOK_STAGE_FILES:
        docs.append(f"# from sigs.k8s.io/kwok@v{KWOK_VERSION}/{rel}\n" + (src / rel).read_text())
    tmp = out / (STAGES_FILE + ".tmp")
    tmp.write_text("\n---\n".join(d.rstrip("\n") + "\n" for d in docs))
    tmp.replace(out / STAGES_FILE)


def _k8s_ldflags() -> str:
    major, minor, _patch = K8S_VERSION.split(".")
    date = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    flags = ["-s", "-w"]
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        for key, val in (
            ("gitVersion", f"v{K8S_VERSION}"),
            ("gitMajor", major),
            ("gitMinor", minor),
            ("gitTreeState", "clean"),
            ("buildDate", date),
        ):
            flags.append(f"-X {pkg}.{key}={val}")
    return " ".join(flags)


def _build_k8s(
    out: Path, work: Path, env: dict[str, str], logfile: Path, which: Sequence[str]
) -> None:
    """k8s.io/kubernetes is not meant to be a dependency: its go.mod requires every staging
    module at v0.0.0 and replaces it with ./staging/... . A wrapper module requires it and
    replaces each staging module by its published v0.N.P tag instead."""
    _major, minor, patch = K8S_VERSION.split(".")
    staging_version = f"v0.{minor}.{patch}"
    mod = work / "k8s"
    _fresh_module(mod, "aiplane.invalid/k8sbins", env)
    info = json.loads(
        _go(["mod", "download", "-json", f"k8s.io/kubernetes@v{K8S_VERSION}"], mod, env)
    )
    gomod = Path(info["GoMod"]).read_text()
    edits: list[str] = []
    staging: list[str] = []
    for raw in gomod.splitlines():
        line = raw.strip()
        if line.startswith("go ") and len(line.split()) == 2:
            edits.append(f"-go={line.split()[1]}")
        elif line.startswith("godebug ") and "(" not in line:
            edits.append(f"-godebug={line.split(None, 1)[1]}")
        elif "=>" in line:
            left, right = (s.strip() for s in line.removeprefix("replace").split("=>", 1))
            if right.startswith("./staging/"):
                staging.append(left.split()[0])
    if not staging:
        raise ClusterError(f"found no staging replaces in {info['GoMod']}")
    edits += [f"-replace={m}={m}@{staging_version}" for m in staging]
    _go(["mod", "edit", *edits], mod, env)
    log(f"  k8s wrapper module: {len(staging)} staging modules pinned to {staging_version}")
    pkgs = [f"k8s.io/kubernetes/cmd/{b}" for b in which]
    _stream(
        ["go", "get", *(f"{p}@v{K8S_VERSION}" for p in pkgs)],
        cwd=mod, env=env, logfile=logfile, what="kubernetes: go get",
    )  # fmt: skip
    _stream(
        ["go", "build", "-v", "-trimpath", "-tags", "selinux,notest",
         "-ldflags", _k8s_ldflags(), "-o", str(out) + "/", *pkgs],
        cwd=mod, env=env, logfile=logfile, what=f"kubernetes: go build {' '.join(which)}",
    )  # fmt: skip


def _publish(stage: Path, out: Path, names: Sequence[str]) -> None:
    for name in names:
        if not _is_exe(stage / name):
            raise ClusterError(f"the build did not produce {stage / name}")
        (stage / name).replace(out / name)


def _try_lock(f: Any) -> bool:
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def _build_missing(out: Path, missing: Sequence[str], need_stages: bool) -> None:
    work = out / ".work"
    logfile = out / "build.log"
    env = _go_env()
    gov = _go(["version"], out, env).strip()
    log(f"building into {out} with {gov} (log: {logfile})")
    log(f"  versions: kubernetes v{K8S_VERSION}, etcd v{ETCD_VERSION}, kwok v{KWOK_VERSION}")
    # Build into a staging dir and move finished binaries into place, so that an
    # interrupted build never leaves a truncated binary that looks cached.
    stage = work / "out"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    if "etcd" in missing:
        log("step: etcd")
        _build_etcd(stage, work, env, logfile)
        _publish(stage, out, ["etcd"])
    if "kwok" in missing:
        log("step: kwok")
        _build_kwok(stage, work, env, logfile)
        _publish(stage, out, ["kwok"])
    if need_stages:
        log("step: kwok default stages from the module cache")
        _write_kwok_stages(out, work, env)
    k8s = [b for b in K8S_BINARIES if b in missing]
    if k8s:
        log(f"step: kubernetes ({', '.join(k8s)}); a cold build takes a long while")
        _build_k8s(stage, work, env, logfile, k8s)
        _publish(stage, out, k8s)


def build(*, force: bool = False) -> Path:
    """Return a directory holding all binaries and kwok-stages.yaml, building what is missing.

    Binaries found in $AIPLANE_CLUSTER_BIN or $KUBEBUILDER_ASSETS win; whatever those lack is
    built into cache_dir(). When overrides are used, the returned dir is a small directory of
    symlinks under the cache root.
    """
    t0 = time.monotonic()
    out = cache_dir()
    overrides = [] if force else _override_dirs()
    chosen: dict[str, Path] = {}
    for name in (*ALL_BINARIES, STAGES_FILE):
        for d in overrides:
            cand = d / name
            if (name == STAGES_FILE and cand.is_file()) or _is_exe(cand):
                chosen[name] = cand
                break

    def todo() -> tuple[list[str], bool]:
        missing = [n for n in ALL_BINARIES if n not in chosen and (force or not _is_exe(out / n))]
        stages = STAGES_FILE not in chosen and (force or not (out / STAGES_FILE).is_file())
        return missing, stages

    if overrides:
        log(f"prebuilt binaries from {', '.join(map(str, overrides))}: {sorted(chosen) or 'none'}")
    missing, need_stages = todo()
    if missing or need_stages:
        if shutil.which("go") is None:
            raise ClusterError(
                f"need to build {missing or [STAGES_FILE]} but `go` is not on PATH; install Go "
                ">= 1.26 or point AIPLANE_CLUSTER_BIN at a directory with the binaries"
            )
        out.mkdir(parents=True, exist_ok=True)
        with (out / ".build.lock").open("w") as lock:
            if not _try_lock(lock):
                log(f"another build holds {out / '.build.lock'}; waiting for it")
                fcntl.flock(lock, fcntl.LOCK_EX)
                force = False  # whatever that build produced is fresh
                missing, need_stages = todo()
            if missing or need_stages:
                _build_missing(out, missing, need_stages)
        log(f"build finished in {time.monotonic() - t0:.0f}s")
    if not chosen:
        return out
    # Mix of prebuilt and cached: a directory of symlinks keyed by the override locations.
    key = hashlib.sha256("|".join(map(str, overrides)).encode()).hexdigest()[:12]
    mixed = cache_root() / f"bin-{key}"
    mixed.mkdir(parents=True, exist_ok=True)
    for name in (*ALL_BINARIES, STAGES_FILE):
        target = chosen.get(name, out / name)
        link = mixed / name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(target)
    return mixed


# --------------------------------------------------------------------------------------------
# PKI and kubeconfig
# --------------------------------------------------------------------------------------------


def _openssl(*args: str) -> None:
    res = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise ClusterError(f"openssl {' '.join(args)} failed:\n{res.stderr}")


def make_pki(pki: Path) -> None:
    """CA, apiserver serving cert, admin client cert (system:masters), service-account keys."""
    if shutil.which("openssl") is None:
        raise ClusterError("`openssl` is required (apt-get install openssl)")
    pki.mkdir(parents=True, exist_ok=True)
    (pki / "ca.cnf").write_text(
        "[req]\nprompt=no\ndistinguished_name=dn\nx509_extensions=v3_ca\n"
        "[dn]\nCN=aiplane-local-ca\n"
        "[v3_ca]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n"
        "subjectKeyIdentifier=hash\n"
    )
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
        "-config", str(pki / "ca.cnf"), "-keyout", str(pki / "ca.key"), "-out", str(pki / "ca.crt"),
    )  # fmt: skip

    def leaf(name: str, subject: str, ext: str) -> None:
        _openssl(
            "req", "-newkey", "rsa:2048", "-nodes", "-subj", subject,
            "-keyout", str(pki / f"{name}.key"), "-out", str(pki / f"{name}.csr"),
        )  # fmt: skip
        (pki / f"{name}.ext").write_text(
            ext + "\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"
            "keyUsage=critical,digitalSignature,keyEncipherment\n"
        )
        _openssl(
            "x509", "-req", "-in", str(pki / f"{name}.csr"), "-CA", str(pki / "ca.crt"),
            "-CAkey", str(pki / "ca.key"), "-CAcreateserial", "-days", "3650",
            "-extfile", str(pki / f"{name}.ext"), "-out", str(pki / f"{name}.crt"),
        )  # fmt: skip

    leaf(
        "apiserver",
        "/CN=kube-apiserver",
        "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,"
        "DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:10.0.0.1\n"
        "extendedKeyUsage=serverAuth",
    )
    leaf("admin", "/O=system:masters/CN=aiplane-admin", "extendedKeyUsage=clientAuth")
    _openssl("genrsa", "-out", str(pki / "sa.key"), "2048")
    _openssl("rsa", "-in", str(pki / "sa.key"), "-pubout", "-out", str(pki / "sa.pub"))


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def write_kubeconfig(path: Path, pki: Path, api_port: int) -> None:
    text = f"""apiVersion: v1
kind: Config
clusters:
- name: aiplane-local
  cluster:
    server: https://127.0.0.1:{api_port}
    certificate-authority-data: {_b64(pki / "ca.crt")}
users:
- name: aiplane-admin
  user:
    client-certificate-data: {_b64(pki / "admin.crt")}
    client-key-data: {_b64(pki / "admin.key")}
contexts:
- name: aiplane-local
  context:
    cluster: aiplane-local
    user: aiplane-admin
current-context: aiplane-local
"""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.chmod(0o600)
    tmp.replace(path)


# --------------------------------------------------------------------------------------------
# processes
# --------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _proc_starttime(pid: int) -> int | None:
    """Start time of pid in clock ticks (field 22 of /proc/pid/stat), or None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":  # zombie: already dead
        return None
    return int(fields[19])


try:
    _LIBC: Any = ctypes.CDLL(None, use_errno=True)
except OSError:  # pragma: no cover - not glibc/Linux
    _LIBC = None


def _set_pdeathsig() -> None:  # runs in the child between fork and exec: no allocations
    if _LIBC is not None:
        _LIBC.prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG


_children: dict[int, subprocess.Popen[bytes]] = {}


def _spawn(
    name: str,
    argv: list[str],
    run_dir: Path,
    *,
    die_with_parent: bool,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    logs = run_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with (logs / f"{name}.log").open("ab") as out:
        proc = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=run_dir,
            env=None if env is None else {**os.environ, **env},
            start_new_session=True,  # Ctrl-C in a terminal does not hit it; `down` stops it
            preexec_fn=_set_pdeathsig if die_with_parent else None,
        )
    _children[proc.pid] = proc
    return {"pid": proc.pid, "starttime": _proc_starttime(proc.pid), "argv": argv}


def _alive(entry: dict[str, Any]) -> bool:
    pid = entry["pid"]
    child = _children.get(pid)
    if child is not None and child.poll() is not None:
        return False
    st = _proc_starttime(pid)
    return st is not None and st == entry.get("starttime")


def _stop(entry: dict[str, Any], *, kill: bool = False, timeout: float = 15.0) -> None:
    """Stop one recorded process, only if the pid still is the process we started."""
    if not _alive(entry):
        _reap(entry["pid"])
        return
    pid = entry["pid"]
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL if kill else signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(entry):
        time.sleep(0.1)
    if _alive(entry):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        while _alive(entry):
            time.sleep(0.05)
    _reap(pid)


def _reap(pid: int) -> None:
    child = _children.pop(pid, None)
    if child is not None:
        with contextlib.suppress(Exception):
            child.wait(timeout=5)


# --------------------------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------------------------


def _client_ctx(pki: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    ctx.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
    return ctx


def _insecure_ctx() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _get_ok(url: str, ctx: ssl.SSLContext | None = None) -> bool:
    try:
        with urllib.request.urlopen(url, context=ctx, timeout=5) as resp:
            return 200 <= resp.status < 300
    except (OSError, urllib.error.URLError, ssl.SSLError):
        return False


# --------------------------------------------------------------------------------------------
# cluster
# --------------------------------------------------------------------------------------------


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


def _tail(path: Path, n: int = 25) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join("    " + line for line in lines[-n:])


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


# --------------------------------------------------------------------------------------------
# fake GPU nodes
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GpuModel:
    product: str  # nvidia.com/gpu.product as GPU Feature Discovery reports it
    memory_mib: int  # nvidia.com/gpu.memory (total framebuffer, MiB, as NVML reports it)
    family: str  # nvidia.com/gpu.family
    compute: tuple[int, int]  # CUDA compute capability
    mig_profiles: tuple[str, ...] = ()  # empty: not MIG capable
    machine: str = ""  # a typical cloud instance type with 8 of them


# Memory figures are the usual nvidia-smi/NVML totals; MIG profiles are those of the
# GPU Operator's default mig-parted config for each device.
GPU_MODELS: dict[str, GpuModel] = {
    "A100-40GB": GpuModel(
        "NVIDIA-A100-SXM4-40GB", 40960, "ampere", (8, 0),
        ("1g.5gb", "1g.10gb", "2g.10gb", "3g.20gb", "4g.20gb", "7g.40gb"), "p4d.24xlarge",
    ),
    "A100-80GB": GpuModel(
        "NVIDIA-A100-SXM4-80GB", 81920, "ampere", (8, 0),
        ("1g.10gb", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"), "p4de.24xlarge",
    ),
    "H100-80GB": GpuModel(
        "NVIDIA-H100-80GB-HBM3", 81559, "hopper", (9, 0),
        ("1g.10gb", "1g.20gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"), "p5.48xlarge",
    ),
    "H200-141GB": GpuModel(
        "NVIDIA-H200", 143771, "hopper", (9, 0),
        ("1g.18gb", "1g.35gb", "2g.35gb", "3g.71gb", "4g.71gb", "7g.141gb"), "p5en.48xlarge",
    ),
    "B200-180GB": GpuModel(
        "NVIDIA-B200", 183359, "blackwell", (10, 0),
        ("1g.23gb", "1g.45gb", "2g.45gb", "3g.90gb", "4g.90gb", "7g.180gb"), "p6-b200.48xlarge",
    ),
    "L40S": GpuModel("NVIDIA-L40S", 46068, "ada-lovelace", (8, 9), (), "g6e.48xlarge"),
    "L4": GpuModel("NVIDIA-L4", 23034, "ada-lovelace", (8, 9), (), "g6.48xlarge"),
    "A10G": GpuModel("NVIDIA-A10G", 23028, "ampere", (8, 6), (), "g5.48xlarge"),
    "T4": GpuModel("Tesla-T4", 15360, "turing", (7, 5), (), "g4dn.metal"),
}  # fmt: skip
GPU_ALIASES = {"H100": "H100-80GB", "H200": "H200-141GB", "B200": "B200-180GB", "A100": "A100-80GB"}


def gpu_model(name: str) -> GpuModel:
    key = GPU_ALIASES.get(name.upper(), name.upper())
    for k, v in GPU_MODELS.items():
        if k.upper() == key:
            return v
    raise ClusterError(f"unknown GPU {name!r}; known: {', '.join(GPU_MODELS)}")


def parse_mig_layout(text: str) -> dict[str, int]:
    """'3g.40gb=1,2g.20gb=1,1g.10gb=2' -> {'3g.40gb': 1, ...} (instances per GPU)."""
    layout: dict[str, int] = {}
    for part in filter(None, (s.strip() for s in text.split(","))):
        prof, _, n = part.partition("=")
        try:
            layout[prof.strip()] = int(n) if n else 1
        except ValueError:
            raise ClusterError(f"bad MIG layout entry {part!r} (want PROFILE=N)") from None
    return layout


def _mig_slices(model: GpuModel, profile: str) -> tuple[int, int]:
    """(compute slices of 7, memory slices of 8) used by one instance of profile."""
    g, gb = profile.split(".")[:2]
    total_gb = int(model.mig_profiles[-1].split(".")[1].removesuffix("gb"))
    return int(g.removesuffix("g")), max(1, round(int(gb.removesuffix("gb")) / (total_gb / 8)))


def _check_mig_layout(gpu: str, model: GpuModel, layout: dict[str, int]) -> None:
    if not model.mig_profiles:
        raise ClusterError(f"{gpu} is not MIG capable")
    compute = memory = 0
    for prof, n in layout.items():
        if prof not in model.mig_profiles:
            raise ClusterError(
                f"{gpu} has no MIG profile {prof!r}; it has {', '.join(model.mig_profiles)}"
            )
        c, m = _mig_slices(model, prof)
        compute, memory = compute + c * n, memory + m * n
    if compute > 7 or memory > 8:
        raise ClusterError(
            f"MIG layout {layout} does not fit one {gpu}: {compute}/7 compute, "
            f"{memory}/8 memory slices"
        )


def _mig_config_name(model: GpuModel, layout: dict[str, int]) -> str:
    if len(layout) == 1:
        (prof,) = layout
        return f"all-{prof}"
    small, two, three = model.mig_profiles[0], model.mig_profiles[2], model.mig_profiles[3]
    if layout == {small: 2, two: 1, three: 1}:
        return "all-balanced"
    return "custom-" + "-".join(f"{p}x{n}" for p, n in sorted(layout.items()))


def gpu_node_manifests(
    gpu: str,
    count: int = 1,
    *,
    name_prefix: str | None = None,
    gpus_per_node: int = 8,
    mig_strategy: str = "none",
    mig_layout: dict[str, int] | str | None = None,
    labels: dict[str, str] | None = None,
    taints: Sequence[dict[str, str]] = (),
) -> list[dict[str, Any]]:
    """Node objects for `count` fake nodes with `gpus_per_node` GPUs each.

    mig_strategy "none": whole GPUs as nvidia.com/gpu. "single": every GPU split the same way
    (mig_layout must have one profile) and advertised as nvidia.com/gpu, as the device plugin
    does. "mixed": every GPU split per mig_layout, advertised as nvidia.com/mig-<profile>.
    Labels follow GPU Feature Discovery; `labels` adds or overrides.
    """
    model = gpu_model(gpu)
    if mig_strategy not in ("none", "single", "mixed"):
        raise ClusterError(f"mig strategy must be none, single or mixed, not {mig_strategy!r}")
    layout = parse_mig_layout(mig_layout) if isinstance(mig_layout, str) else dict(mig_layout or {})
    if mig_strategy == "none" and layout:
        mig_strategy = "mixed"
    prefix = name_prefix or f"gpu-{gpu.lower()}-"
    gfd: dict[str, str] = {
        "nvidia.com/gpu.present": "true",
        "nvidia.com/gpu.deploy.device-plugin": "true",
        "nvidia.com/gpu.product": model.product,
        "nvidia.com/gpu.memory": str(model.memory_mib),
        "nvidia.com/gpu.count": str(gpus_per_node),
        "nvidia.com/gpu.family": model.family,
        "nvidia.com/gpu.compute.major": str(model.compute[0]),
        "nvidia.com/gpu.compute.minor": str(model.compute[1]),
        "nvidia.com/gpu.machine": model.machine or "kwok",
        "nvidia.com/cuda.driver-version.major": "580",
        "nvidia.com/mig.capable": "true" if model.mig_profiles else "false",
    }
    extended: dict[str, str] = {}
    if mig_strategy == "none":
        extended["nvidia.com/gpu"] = str(gpus_per_node)
        if model.mig_profiles:
            gfd["nvidia.com/mig.config"] = "all-disabled"
            gfd["nvidia.com/mig.config.state"] = "success"
    else:
        if not layout:
            raise ClusterError(f"--mig-strategy {mig_strategy} needs a --mig-layout")
        _check_mig_layout(gpu, model, layout)
        if mig_strategy == "single" and len(layout) != 1:
            raise ClusterError("MIG strategy single needs exactly one profile in the layout")
        gfd["nvidia.com/mig.strategy"] = mig_strategy
        gfd["nvidia.com/mig.config"] = _mig_config_name(model, layout)
        gfd["nvidia.com/mig.config.state"] = "success"
        if mig_strategy == "single":
            ((prof, n),) = layout.items()
            extended["nvidia.com/gpu"] = str(n * gpus_per_node)
            gfd["nvidia.com/gpu.product"] = f"{model.product}-MIG-{prof}"
            gfd["nvidia.com/gpu.count"] = str(n * gpus_per_node)
            gfd["nvidia.com/gpu.memory"] = str(int(prof.split(".")[1][:-2]) * 1024)
            gfd["nvidia.com/gpu.slices.gi"] = str(_mig_slices(model, prof)[0])
            gfd["nvidia.com/gpu.slices.ci"] = str(_mig_slices(model, prof)[0])
        else:
            extended["nvidia.com/gpu"] = "0"
            for prof, n in layout.items():
                key = f"nvidia.com/mig-{prof}"
                extended[key] = str(n * gpus_per_node)
                gfd[f"{key}.count"] = str(n * gpus_per_node)
                gfd[f"{key}.memory"] = str(int(prof.split(".")[1][:-2]) * 1024)
                gfd[f"{key}.product"] = f"{model.product}-MIG-{prof}"
                gfd[f"{key}.slices.gi"] = str(_mig_slices(model, prof)[0])
                gfd[f"{key}.slices.ci"] = str(_mig_slices(model, prof)[0])
    cpu = 24 * gpus_per_node
    mem_gi = 256 * gpus_per_node
    capacity = {
        "cpu": str(cpu),
        "memory": f"{mem_gi}Gi",
        "pods": "110",
        "ephemeral-storage": "30Ti",
        **extended,
    }
    allocatable = dict(capacity, cpu=str(cpu - 2), memory=f"{mem_gi - 16}Gi")
    nodes = []
    for i in range(count):
        name = f"{prefix}{i}"
        node_labels = {
            "type": "kwok",
            "kubernetes.io/hostname": name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "node.kubernetes.io/instance-type": model.machine or "kwok",
            **gfd,
            **(labels or {}),
        }
        nodes.append(
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": name,
                    "annotations": {
                        KWOK_NODE_ANNOTATION[0]: KWOK_NODE_ANNOTATION[1],
                        "node.alpha.kubernetes.io/ttl": "0",
                    },
                    "labels": node_labels,
                },
                "spec": {"taints": list(taints)} if taints else {},
                "status": {
                    "capacity": capacity,
                    "allocatable": allocatable,
                    "nodeInfo": {
                        "architecture": "amd64",
                        "operatingSystem": "linux",
                        "kubeletVersion": f"v{K8S_VERSION}-kwok",
                        "kubeProxyVersion": f"v{K8S_VERSION}-kwok",
                    },
                },
            }
        )
    return nodes


def create_gpu_nodes(run_dir: Path | str, gpu: str, count: int = 1, **kwargs: Any) -> list[str]:
    return Cluster.load(run_dir).create_gpu_nodes(gpu, count, **kwargs)


# --------------------------------------------------------------------------------------------
# memory
# --------------------------------------------------------------------------------------------


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


# --------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------


def _parse_labels(text: str) -> dict[str, str]:
    out = {}
    for part in filter(None, (s.strip() for s in text.split(","))):
        k, sep, v = part.partition("=")
        if not sep:
            raise ClusterError(f"bad label {part!r} (want key=value)")
        out[k.strip()] = v.strip()
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="local-cluster",
        description="Local Kubernetes control plane (etcd, apiserver, KCM, scheduler, kwok) "
        "built from Go modules, with fake GPU nodes.",
    )
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build (or reuse) the binaries; prints their directory")
    b.add_argument("--force", action="store_true", help="rebuild even when cached")

    def with_dir(name: str, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help)
        p.add_argument("--dir", required=True, type=Path, help="run directory")
        return p

    u = with_dir("up", "start the control plane; prints the kubeconfig path")
    u.add_argument("--timeout", type=float, default=START_TIMEOUT_S)
    with_dir("down", "stop the processes `up` started and remove the directory")
    with_dir("status", "show pids, ports and RSS")
    n = with_dir("nodes", "create kwok-managed fake GPU nodes")
    n.add_argument("--gpu", required=True, help=f"one of {', '.join(GPU_MODELS)}")
    n.add_argument("--count", type=int, default=1)
    n.add_argument("--name-prefix", default=None)
    n.add_argument("--gpus-per-node", type=int, default=8)
    n.add_argument("--mig-strategy", choices=("none", "single", "mixed"), default="none")
    n.add_argument("--mig-layout", default="", help="e.g. 3g.40gb=1,2g.20gb=1,1g.10gb=2")
    n.add_argument("--labels", default="", help="extra labels k=v,k2=v2")
    n.add_argument("--no-wait", action="store_true", help="do not wait for Ready")
    s = with_dir("stop-apiserver", "stop kube-apiserver only")
    s.add_argument("--kill", action="store_true", help="SIGKILL instead of SIGTERM")
    with_dir("start-apiserver", "start kube-apiserver again on the same port")
    r = with_dir("restart-apiserver", "stop and start kube-apiserver")
    r.add_argument("--kill", action="store_true", help="SIGKILL instead of SIGTERM")
    args = ap.parse_args(argv)

    try:
        if args.cmd == "build":
            print(build(force=args.force))
        elif args.cmd == "up":
            c = up(args.dir, timeout=args.timeout)
            print(c.kubeconfig)
        elif args.cmd == "down":
            down(args.dir)
            log(f"stopped and removed {args.dir}")
        elif args.cmd == "status":
            c = Cluster.load(args.dir)
            for name, entry in c.procs.items():
                alive = _alive(entry)
                rss = rss_kib(entry["pid"]) if alive else 0
                state = f"running, RSS {rss / 1024:.0f} MiB" if alive else "stopped"
                print(f"{name:20} pid {entry['pid']:>7}  {state}")
            print(f"apiserver {c.api_url}  kubeconfig {c.kubeconfig}")
        elif args.cmd == "nodes":
            names = create_gpu_nodes(
                args.dir,
                args.gpu,
                args.count,
                name_prefix=args.name_prefix,
                gpus_per_node=args.gpus_per_node,
                mig_strategy=args.mig_strategy,
                mig_layout=args.mig_layout,
                labels=_parse_labels(args.labels),
                wait=not args.no_wait,
            )
            print("\n".join(names))
        elif args.cmd == "stop-apiserver":
            Cluster.load(args.dir).stop_apiserver(kill=args.kill)
        elif args.cmd == "start-apiserver":
            Cluster.load(args.dir).start_apiserver()
        elif args.cmd == "restart-apiserver":
            Cluster.load(args.dir).restart_apiserver(kill=args.kill)
    except ClusterError as e:
        print(f"local-cluster: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
