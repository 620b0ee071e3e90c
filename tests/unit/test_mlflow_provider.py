"""The MLflow provider's decisions from what it read (no registry needed for these)."""

from __future__ import annotations

from typing import Any

from aiplane.plan.address import Address
from aiplane.providers.base import Live, Resource
from aiplane.providers.mlflow.provider import ALIAS, PROVIDER, REFERENCE, MlflowProvider
from aiplane.secrets import Scrubber

CONN = {"uri": "http://127.0.0.1:1", "token_env": "MLFLOW_TRACKING_TOKEN", "ca_file": None,
        "insecure": False}  # fmt: skip


def plan_one(r: Resource, now: Any) -> Any:
    provider = MlflowProvider(scrubber=Scrubber())
    [prepared] = provider.prepare([r])
    [change] = provider.plan([prepared], Live(objects={r.address: now}))
    return prepared, change


def reference(version: str, moved_from: str | None = None) -> Resource:
    body: dict[str, Any] = {"connection": CONN, "model": "llama", "alias": "production",
                            "version": version}  # fmt: skip
    if moved_from is not None:
        body |= {"moved_from": moved_from, "move_line": "model llama production: moved"}
    address = Address(PROVIDER, REFERENCE, "mlflow", "mlflow://llama@production")
    return Resource(address, body, "s.yaml#L9", "model llama production")


def test_a_reference_pins_the_version_it_resolved_to() -> None:
    _, change = plan_one(reference("1"), "1")
    assert change.action == "noop" and change.pin.version == "1"


def test_a_refreshed_move_is_an_update_but_digests_like_the_lock() -> None:
    moved, change = plan_one(reference("2", moved_from="1"), "2")
    assert change.action == "update"
    assert change.reason == "model llama production: moved"
    assert [(d.before, d.after) for d in change.diffs] == [("1", "2")]
    # apply re-renders from the lock (no move note): the digest must be the same
    again, _ = plan_one(reference("2"), "2")
    assert moved.digest == again.digest


def test_promoted_alias_moves_after_the_workloads() -> None:
    address = Address(PROVIDER, ALIAS, "mlflow", "llama@production")
    body = {"connection": CONN, "model": "llama", "alias": "production", "version": "2"}
    r = Resource(address, body, "s.yaml#L12", "model llama production")
    _, change = plan_one(r, "1")
    assert change.action == "update"
    assert "mlflow alias production of llama 1 -> 2, once model llama production" in change.reason
    assert MlflowProvider(scrubber=Scrubber()).stage(address) == "routes"
    _, unset = plan_one(r, None)
    assert unset.action == "create"
    _, same = plan_one(r, "2")
    assert same.action == "noop"
