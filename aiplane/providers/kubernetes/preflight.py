"""Preflight: what the stack needs from the cluster that the cluster does not serve.

Before anything is planned against the server, every kind the stack renders must be served (or
provided by a CRD in the same stack), and every namespace it writes into must exist (or be created
by the stack). A missing one is a plan error that names the component to install, so ``plan``
fails with the whole list and ``apply`` (of a saved plan too) writes nothing, instead of applying
half a stack and stopping at the first kind the server rejects.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from aiplane.errors import Diagnostic

# API group -> the component that serves it (and the version aiplane renders for).
COMPONENTS: Mapping[str, str] = {
    "gateway.networking.k8s.io": "Gateway API CRDs v1.6 (standard channel)",
    "gateway.envoyproxy.io": "Envoy Gateway v1.8 (its CRDs)",
    "aigateway.envoyproxy.io": "Envoy AI Gateway v1.1 (its CRDs)",
    "inference.networking.k8s.io": "Gateway API Inference Extension v1.6",
    "nvidia.com": "NVIDIA GPU Operator v26.7",
    "argoproj.io": "Argo Workflows v4.1",
    "kueue.x-k8s.io": "Kueue v0.19",
    "leaderworkerset.x-k8s.io": "LeaderWorkerSet v0.10",
    "serving.kserve.io": "KServe v0.20",
}
# Namespace -> the component that creates it when installed.
NAMESPACE_COMPONENTS: Mapping[str, str] = {
    "gpu-operator": "the NVIDIA GPU Operator",
    "envoy-gateway-system": "Envoy Gateway",
    "envoy-ai-gateway-system": "the Envoy AI Gateway",
    "argo": "Argo Workflows",
    "kueue-system": "Kueue",
    "lws-system": "LeaderWorkerSet",
    "kserve": "KServe",
}


def component_of_group(group: str) -> str:
    """The component that serves API ``group`` ("a CRD for GROUP" when unknown)."""
    return COMPONENTS.get(group, f"a CRD for {group or 'the core group'}")


def missing_api_message(api_version: str, kinds: Sequence[str]) -> str:
    """ "API gateway.envoyproxy.io/v1alpha1 (Backend, ...) is not served: install Envoy ..."."""
    group = api_version.rpartition("/")[0]
    listed = ", ".join(sorted(set(kinds)))
    return f"API {api_version} ({listed}) is not served: install {component_of_group(group)}"


def missing_namespace_message(namespace: str) -> str:
    """Why a namespace the stack writes into is missing, naming the component when known."""
    component = NAMESPACE_COMPONENTS.get(namespace)
    if component:
        return f"{component} is not installed: namespace {namespace} does not exist"
    return f"namespace {namespace} does not exist and the stack does not create it"


Served = Callable[[str, str], bool]  # (apiVersion, kind) -> served by the server
Exists = Callable[[str], bool]  # namespace -> exists


def preflight(
    refs: Sequence[tuple[str, str, str, str]],
    *,
    served: Served,
    crds: Mapping[tuple[str, str], bool],
    created_namespaces: set[str],
    namespace_exists: Exists,
    stack_file: str = "<stack>",
) -> list[Diagnostic]:
    """Every missing API and namespace, one diagnostic each.

    ``refs`` are (apiVersion, kind, namespace, source) of every rendered object; ``crds`` the
    (group, kind) pairs the stack's own CRDs provide.
    """
    missing: dict[str, list[str]] = {}
    sources: dict[str, str] = {}
    namespaces: dict[str, str] = {}
    for api_version, kind, namespace, source in refs:
        group = api_version.rpartition("/")[0]
        if not served(api_version, kind) and (group, kind) not in crds:
            missing.setdefault(api_version, []).append(kind)
            sources.setdefault(api_version, source)
        if namespace and namespace not in created_namespaces:
            namespaces.setdefault(namespace, source)
    out = [
        _located(missing_api_message(api, kinds), sources[api] or stack_file)
        for api, kinds in missing.items()
    ]
    out += [
        _located(missing_namespace_message(ns), source or stack_file)
        for ns, source in sorted(namespaces.items())
        if not namespace_exists(ns)
    ]
    return out


def _located(message: str, source: str) -> Diagnostic:
    file, _, line = source.partition("#L")
    number = int(line) if line.isdigit() else 0
    return Diagnostic(message, file=file, line=number, column=1 if number else 0)
