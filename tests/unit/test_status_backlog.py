"""Queue positions in ``aiplane status``: Kueue's order (priority first, then age), per
ClusterQueue, over Workloads that are not admitted or finished."""

from __future__ import annotations

from typing import Any

from aiplane.providers.kubernetes.client import Resource
from aiplane.status.work import pending_workloads


class FakeClient:
    """Answers discovery and LISTs from fixed items (what the API server would return)."""

    def __init__(self, items: dict[str, list[dict[str, Any]]]) -> None:
        self.items = items

    def resource(self, api_version: str, kind: str) -> Resource | None:
        group, _, version = api_version.rpartition("/")
        return Resource(group, version, kind, kind.lower() + "s", True)

    def request(self, method: str, path: str, **_: Any) -> dict[str, Any]:
        return {"items": self.items[path.rsplit("/", 1)[-1]]}


def workload(
    name: str, queue: str, priority: int, created: str, *conditions: str
) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": "ml",
            "creationTimestamp": created,
            "ownerReferences": [{"kind": "Job", "name": name}],
        },
        "spec": {"queueName": queue, "priority": priority},
        "status": {
            "conditions": [
                {"type": "QuotaReserved", "status": "False", "message": f"{name} waits"},
                *({"type": c, "status": "True"} for c in conditions),
            ]
        },
    }


def test_positions_follow_priority_then_age_per_cluster_queue() -> None:
    client = FakeClient(
        {
            "localqueues": [
                {
                    "metadata": {"name": "train", "namespace": "ml"},
                    "spec": {"clusterQueue": "s-train"},
                },
                {
                    "metadata": {"name": "infer", "namespace": "ml"},
                    "spec": {"clusterQueue": "s-infer"},
                },
            ],
            "workloads": [
                workload("old-low", "train", 10, "2026-01-01T00:00:00Z"),
                workload("new-high", "train", 1000, "2026-01-03T00:00:00Z"),
                workload("mid-low", "train", 10, "2026-01-02T00:00:00Z"),
                workload("running", "train", 5000, "2026-01-01T00:00:00Z", "Admitted"),
                workload("done", "train", 5000, "2026-01-01T00:00:00Z", "Finished"),
                workload("alone", "infer", 1, "2026-01-01T00:00:00Z"),
            ],
        }
    )
    rows = pending_workloads(client)  # type: ignore[arg-type]
    order = [(r["clusterQueue"], r["owner"], r["position"], r["of"]) for r in rows]
    assert order == [
        ("s-infer", "Job/alone", 1, 1),
        ("s-train", "Job/new-high", 1, 3),
        ("s-train", "Job/old-low", 2, 3),
        ("s-train", "Job/mid-low", 3, 3),
    ]
    assert rows[1]["reason"] == "new-high waits"
