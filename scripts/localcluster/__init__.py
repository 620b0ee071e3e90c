"""A real, local Kubernetes control plane for aiplane's tests, built from Go modules.

etcd + kube-apiserver + kube-controller-manager + kube-scheduler run on 127.0.0.1, and kwok
plays the kubelet for fake GPU nodes, so that pods requesting GPUs are scheduled by the real
scheduler and become Running. Nothing is downloaded except Go modules through the Go module
proxy; no Docker is needed.

Command line (``scripts/local-cluster`` is a thin wrapper around ``localcluster.cli``)::

    local-cluster build                      # build or reuse cached binaries, print their dir
    local-cluster up --dir D                 # start everything, print D/kubeconfig
    local-cluster nodes --dir D --gpu H100-80GB --count 2
    local-cluster nodes --dir D --gpu H100-80GB --count 1 --mig-strategy mixed \\
        --mig-layout 3g.40gb=1,2g.20gb=1,1g.10gb=2
    local-cluster stop-apiserver --dir D [--kill] / start-apiserver --dir D / restart-apiserver
    local-cluster status --dir D
    local-cluster down --dir D               # stop exactly the processes `up` started, rm D

As a library (stdlib only, Python >= 3.11; ``scripts/local_cluster.py`` re-exports the same
names, so ``import local_cluster as lc`` works too)::

    import localcluster as lc
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

Modules: config (versions, constants, ClusterError, log), build (cache and lock), gobuild (Go
builds), pki (openssl, kubeconfig), processes (spawn/stop/health), cluster (the Cluster
class), lifecycle (up/down), nodes (GPU table, fake nodes), cli (argparse, main).
"""

from __future__ import annotations

from .build import build, cache_dir, cache_root
from .cli import main
from .cluster import Cluster, create_gpu_nodes
from .config import (
    ALL_BINARIES,
    ETCD_VERSION,
    K8S_BINARIES,
    K8S_VERSION,
    KWOK_NODE_ANNOTATION,
    KWOK_STAGE_FILES,
    KWOK_VERSION,
    POD_CIDR,
    SERVICE_CIDR,
    STAGES_FILE,
    START_TIMEOUT_S,
    STATE_FILE,
    ClusterError,
    log,
)
from .lifecycle import down, up
from .nodes import (
    GPU_ALIASES,
    GPU_MODELS,
    GpuModel,
    gpu_model,
    gpu_node_manifests,
    parse_mig_layout,
)
from .pki import make_pki, write_kubeconfig
from .processes import free_port, rss_kib

__all__ = [
    "ALL_BINARIES",
    "ETCD_VERSION",
    "GPU_ALIASES",
    "GPU_MODELS",
    "K8S_BINARIES",
    "K8S_VERSION",
    "KWOK_NODE_ANNOTATION",
    "KWOK_STAGE_FILES",
    "KWOK_VERSION",
    "POD_CIDR",
    "SERVICE_CIDR",
    "STAGES_FILE",
    "START_TIMEOUT_S",
    "STATE_FILE",
    "Cluster",
    "ClusterError",
    "GpuModel",
    "build",
    "cache_dir",
    "cache_root",
    "create_gpu_nodes",
    "down",
    "free_port",
    "gpu_model",
    "gpu_node_manifests",
    "log",
    "main",
    "make_pki",
    "parse_mig_layout",
    "rss_kib",
    "up",
    "write_kubeconfig",
]
