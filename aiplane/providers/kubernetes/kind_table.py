"""Facts about kinds, in one table: listing rank, apply stage, cluster scope.

Render lists objects by rank (things others depend on first); the provider applies them stage by
stage; the offline plan (no cluster to ask) scopes them by this table. A kind not listed is ranked
last, applied with the workloads and namespaced.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aiplane.plan.model import Stage


@dataclass(frozen=True)
class KindFacts:
    """What aiplane knows about one kind."""

    rank: int
    stage: Stage
    cluster_scoped: bool


UNRANKED = 1_000
NS, CLUSTER = False, True
# kind, rank (listing order of rendered objects; UNRANKED: after all ranked), stage, scope
_TABLE: tuple[tuple[str, int, Stage, bool], ...] = (
    ("Namespace", 0, "crds", CLUSTER),
    ("PriorityClass", 1, "cluster-config", CLUSTER),
    ("ConfigMap", 2, "cluster-config", NS),
    ("ClusterPolicy", 3, "cluster-config", CLUSTER),
    ("NodeLabels", 4, "cluster-config", CLUSTER),
    ("Deployment", 5, "workloads", NS),
    ("Service", 6, "workloads", NS),
    ("PodDisruptionBudget", 7, "workloads", NS),
    ("HorizontalPodAutoscaler", 8, "workloads", NS),
    ("HTTPRoute", 9, "routes", NS),
    ("Backend", 10, "routes", NS),
    ("BackendTLSPolicy", 11, "workloads", NS),
    ("AIServiceBackend", 12, "routes", NS),
    ("BackendSecurityPolicy", 13, "routes", NS),
    ("AIGatewayRoute", 14, "routes", NS),
    ("BackendTrafficPolicy", 15, "workloads", NS),
    ("QuotaPolicy", 16, "routes", NS),
    ("WorkflowTemplate", 17, "workflows", NS),
    ("CronWorkflow", 18, "workflows", NS),
    ("CustomResourceDefinition", UNRANKED, "crds", CLUSTER),
    ("Secret", UNRANKED, "cluster-config", NS),
    ("ServiceAccount", UNRANKED, "cluster-config", NS),
    ("Role", UNRANKED, "cluster-config", NS),
    ("ClusterRole", UNRANKED, "cluster-config", CLUSTER),
    ("RoleBinding", UNRANKED, "cluster-config", NS),
    ("ClusterRoleBinding", UNRANKED, "cluster-config", CLUSTER),
    ("StorageClass", UNRANKED, "cluster-config", CLUSTER),
    ("PersistentVolumeClaim", UNRANKED, "cluster-config", NS),
    ("ResourceQuota", UNRANKED, "cluster-config", NS),
    ("LimitRange", UNRANKED, "cluster-config", NS),
    ("ResourceFlavor", UNRANKED, "cluster-config", CLUSTER),
    ("ClusterQueue", UNRANKED, "cluster-config", CLUSTER),
    ("LocalQueue", UNRANKED, "cluster-config", NS),
    ("Gateway", UNRANKED, "routes", NS),
    ("GatewayClass", UNRANKED, "routes", CLUSTER),
    ("GRPCRoute", UNRANKED, "routes", NS),
    ("Ingress", UNRANKED, "routes", NS),
    ("InferencePool", UNRANKED, "routes", NS),
    ("ClusterWorkflowTemplate", UNRANKED, "workflows", CLUSTER),
    ("Workflow", UNRANKED, "workflows", NS),
    ("Node", UNRANKED, "workloads", CLUSTER),
    ("IngressClass", UNRANKED, "workloads", CLUSTER),
    ("ValidatingWebhookConfiguration", UNRANKED, "workloads", CLUSTER),
    ("MutatingWebhookConfiguration", UNRANKED, "workloads", CLUSTER),
    ("PersistentVolume", UNRANKED, "workloads", CLUSTER),
    ("ClusterIssuer", UNRANKED, "workloads", CLUSTER),
    ("RuntimeClass", UNRANKED, "workloads", CLUSTER),
)
KINDS: Mapping[str, KindFacts] = {
    k: KindFacts(rank, stage, scope) for k, rank, stage, scope in _TABLE
}
_DEFAULT = KindFacts(UNRANKED, "workloads", NS)


def facts(kind: str) -> KindFacts:
    """The facts of ``kind`` (unknown kinds: unranked, workloads, namespaced)."""
    return KINDS.get(kind, _DEFAULT)
