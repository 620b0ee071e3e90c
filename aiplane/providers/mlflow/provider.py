"""The MLflow registry as a provider: what a plan pins there and what apply writes there.

Two resource types, both addressed ``mlflow/<type>/<registry>/<name>``:

* ``reference`` (read-only): a registry reference the stack serves (``mlflow://llama@production``)
  as resolved for this plan. The plan pins the version it resolved to, so ``apply PLAN`` is
  refused when an alias moved since ("plan is stale"); a ``plan --refresh`` that moved it shows
  an update ``1 -> 2`` (the lock file is already written; apply writes nothing to the registry).
* ``alias`` (written): a stage with ``promoteAlias`` makes the registry agree with the cluster.
  Its stage is ``routes``, after the ``workloads`` stage has settled, so the alias only moves
  once the Deployments serving the new version are healthy.

Bodies carry the registry's connection settings (URI, the name of the token's environment
variable, TLS), never a secret value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aiplane.errors import AiplaneError
from aiplane.plan.address import Address
from aiplane.plan.decide import decide
from aiplane.plan.diff import FieldDiff
from aiplane.plan.model import Action, Change, Disruption, Pin, Stage, digest_of
from aiplane.plan.state import Inventory
from aiplane.providers.base import Live, ProviderContext, Resource, Say, plan_each
from aiplane.providers.mlflow.client import MlflowClient, MlflowError
from aiplane.secrets import Scrubber

PROVIDER = "mlflow"
REFERENCE = "reference"
ALIAS = "alias"


def make_provider(context: ProviderContext) -> MlflowProvider:
    """Registry factory: connects lazily, one client per registry URI."""
    return MlflowProvider(scrubber=context.scrubber, stack_file=context.stack_file)


def _client(body: Mapping[str, Any]) -> MlflowClient:
    import os

    conn = body["connection"]
    token = os.environ.get(str(conn.get("token_env") or "MLFLOW_TRACKING_TOKEN")) or None
    verify: bool | str = conn.get("ca_file") or not conn.get("insecure", False)
    return MlflowClient(str(conn["uri"]), token=token, verify=verify)


def _classify(action: Action, diffs: Sequence[FieldDiff]) -> Disruption:
    return "in-place" if action in ("create", "update") else "none"


class MlflowProvider:
    """Reads aliases and versions; moves aliases for stages that promote one."""

    name = PROVIDER
    concurrency = 4

    def __init__(self, *, scrubber: Scrubber, stack_file: str = "") -> None:
        self.scrub = scrubber
        self.stack_file = stack_file
        self.clients: dict[str, MlflowClient] = {}

    def client(self, body: Mapping[str, Any]) -> MlflowClient:
        uri = str(body["connection"]["uri"])
        if uri not in self.clients:
            self.clients[uri] = _client(body)
        return self.clients[uri]

    def prepare(self, resources: Sequence[Resource]) -> list[Resource]:
        """Digest what apply must reproduce (not the move note, which only a refresh has)."""
        seen: set[Address] = set()
        out = []
        for r in resources:
            if r.address in seen:
                raise AiplaneError(f"{r.address}: rendered twice")
            seen.add(r.address)
            stable = {k: v for k, v in r.body.items() if k not in ("moved_from", "move_line")}
            out.append(r.with_digest(digest_of(stable)))
        return out

    def current(self, body: Mapping[str, Any]) -> str | None:
        """The version the resource's alias (or pinned version) names now; None: no alias."""
        client = self.client(body)
        try:
            if body.get("alias") is None:
                found = client.model_version(str(body["model"]), str(body["version"]))
            else:
                found = client.alias_version(str(body["model"]), str(body["alias"]))
        except MlflowError as exc:
            if exc.status == 400 and body.get("alias") is not None:
                return None  # the alias does not exist (yet)
            raise
        return str(found.get("version") or "") or None

    def read(self, wanted: Sequence[Resource], recorded: Inventory) -> Live:
        """What each alias (or version) names now, in the registry."""
        return Live(objects={r.address: self.current(r.body) for r in wanted})

    def plan(self, wanted: Sequence[Resource], live: Live) -> list[Change]:
        return plan_each(
            wanted,
            lambda r: self._plan_one(r, live.objects.get(r.address)),
            concurrency=1,
            scrub=self.scrub,
            stack_file=self.stack_file,
        )

    def _plan_one(self, r: Resource, now: Any) -> Change:
        body = r.body
        common: dict[str, Any] = {"source": r.source, "subject": r.subject,
                                  "desired_digest": r.digest, "classify": _classify}  # fmt: skip
        if r.address.type == REFERENCE:
            pin = Pin(version=str(body["version"]))
            moved = body.get("moved_from")
            if moved is not None and moved != body["version"]:
                diff = FieldDiff("version", moved, body["version"])
                return decide(r.address, wanted=True, exists=True, diffs=(diff,), pin=pin,
                              reason=str(body.get("move_line") or ""), **common)  # fmt: skip
            return decide(r.address, wanted=True, exists=True, pin=pin, **common)
        want = str(body["version"])
        live_pin = Pin(version=str(now)) if now is not None else None
        reason = (
            f"mlflow alias {body['alias']} of {body['model']} "
            f"{now or '(unset)'} -> {want}, once {r.subject} is healthy"
        )
        diffs = () if now == want else (FieldDiff("version", now, want),)
        return decide(r.address, wanted=True, exists=now is not None, diffs=diffs, pin=live_pin,
                      reason=reason if diffs else "", **common)  # fmt: skip

    def prune(self, wanted: Sequence[Resource], live: Live) -> list[Change]:
        """Nothing: aiplane never deletes aliases or versions it stops following."""
        return []

    def pin_now(self, address: Address, live: Live) -> Pin | None:
        now = live.objects.get(address)
        return Pin(version=str(now)) if now is not None else None

    def stage(self, address: Address) -> Stage:
        """Aliases move after the workloads stage settled (healthy); references never change."""
        return "routes" if address.type == ALIAS else "workloads"

    def apply(self, change: Change, wanted: Resource | None, live: Live) -> None:
        """Move the alias (references: nothing to write; the lock was written by the plan)."""
        if wanted is None or change.address.type != ALIAS:
            return
        body = wanted.body
        self.client(body).set_alias(str(body["model"]), str(body["alias"]), str(body["version"]))

    def settle(self, changes: Sequence[Change], say: Say, *, health: bool) -> None:
        """An alias move is visible at once (MLflow answers the new version immediately)."""
        for c in changes:
            if c.address.type == ALIAS:
                say(f"{c.address}: {c.reason.split(',', 1)[0]}")

    def inventory(self, wanted: Sequence[Resource]) -> Inventory:
        """Nothing to record: aliases are found by name and never pruned."""
        return {}

    def warnings(self, changes: Sequence[Change]) -> list[str]:
        return []

    def close(self) -> None:
        for client in self.clients.values():
            client.close()
        self.clients.clear()
