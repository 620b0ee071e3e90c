"""Versions, file names, network ranges, the error type and the log line shared by all."""

from __future__ import annotations

import os
import sys
import time

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
