"""The provider protocol: how the plan core reads, plans, applies and waits, for any backend.

A *provider* owns the resources of one backend (the Kubernetes API, a vector database, a model
registry's write side). A *data source* is read-only and runs before render (resolve
``mlflow://name@alias`` to a version). The core (``aiplane.plan``) never speaks to a backend; it
calls these methods and nothing else. The model is Terraform's ``providers.Interface``
(ReadResource / PlanResourceChange / ApplyResourceChange / ReadDataSource).

Writing a provider (see also docs/adding-a-provider.md):

1. **Resources.** Render returns ``Resource(address, body, source, subject)`` values whose
   ``address.provider`` is your registered name. ``body`` is whatever your backend needs to
   create the resource (a JSON-like mapping); ``source`` is ``FILE#Lline`` of the stack entry,
   ``subject`` the stack-level thing it belongs to ("model llama v2.1", "collection docs").
2. **Register** a factory in ``aiplane/providers/registry.py`` (one line: name -> "module:func").
   The factory gets a ``ProviderContext`` and must not connect yet if it can avoid it.
3. **prepare(resources)**: validate and normalise what render produced (defaults, ownership
   marks), reject duplicates, and return the resources with ``digest`` set (``digest_of`` the
   body, secret values left out). Raise ``AiplaneError`` with located diagnostics.
4. **read(wanted, recorded)**: read live state for the wanted resources *and* for the stack's
   inventory in your backend (``recorded`` is what the stack's state says you own, as your own
   ``inventory`` wrote it). Read in bulk and concurrently (``concurrency``). Return a ``Live``:
   ``objects`` for wanted resources found, ``members`` for everything the stack owns there.
   Learn secret values into ``context.scrubber`` as you read them.
5. **plan(wanted, live)**: one ``Change`` per wanted resource, each built by
   ``aiplane.plan.decide.decide`` from what you observed (diffs from live to wanted, an immutable
   field forcing ``replace_reason``, expected drift, the ``pin``). ``plan_each`` runs your
   per-resource function concurrently and gathers located problems into one ``PlanError``.
6. **prune(wanted, live)**: ``decide(..., wanted=False)`` deletions for members no longer wanted.
   Never delete what the stack does not own; list what deleting loses in ``note``.
7. **pin_now(address, live)**: the ``Pin`` of a resource now (None: it does not exist). The core
   refuses a saved plan when ``Pin.still`` says it moved (version first, then uid + fingerprint).
8. **stage(address)**: one of ``STAGES``; the core applies stage by stage across providers
   (a vector collection in "collections" before the routes that use it), prune last in reverse.
9. **apply(change, wanted, live)**: make one change (``wanted`` None for a delete); idempotent,
   so a rerun after a failure converges. Raise ``AiplaneError`` on failure.
10. **settle(changes, say, health)**: after a stage, refresh what the stage changed and, when
    ``health`` is true, wait until the changed resources serve (report progress through ``say``;
    respect ``context.options["health_timeout"]`` when set).
11. **inventory(wanted)**: what the stack's state must record so the next ``read`` finds
    everything you own (names, kinds); the core writes it before and after an apply.
12. **warnings(changes)** and **close()**.
13. Optional: **unhealthy(addresses)** -> reasons, for the engine's health gate before each later
    stage (``aiplane.plan.engine.unhealthy_now``); wait up to your health timeout first.

Every message you raise or return starts with the resource (``str(address)``) and passes through
``context.scrubber`` before it is shown. Test against a real server started by the test suite.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from aiplane.errors import AiplaneError, Diagnostic
from aiplane.plan.address import Address
from aiplane.plan.model import Change, Pin, Stage
from aiplane.plan.state import Inventory
from aiplane.secrets import Scrubber

Say = Callable[[str], None]


@dataclass(frozen=True)
class Resource:
    """One resource the stack wants, as render returns it, tagged with its provider."""

    address: Address
    body: Mapping[str, Any]
    source: str = ""
    subject: str = ""
    digest: str = ""

    @property
    def provider(self) -> str:
        """The provider that owns this resource."""
        return self.address.provider

    def with_digest(self, digest: str) -> Resource:
        """This resource with its digest set (``prepare`` does this)."""
        return replace(self, digest=digest)


@dataclass
class Live:
    """What a provider read: wanted resources found, and the stack's members in the backend.

    The values are the provider's own live views (a Kubernetes object, a collection's config);
    the core only uses the keys.
    """

    objects: dict[Address, Any] = field(default_factory=dict)
    members: dict[Address, Any] = field(default_factory=dict)


@dataclass
class ProviderContext:
    """What a provider factory gets for one command."""

    stack: str
    stack_file: str
    scrubber: Scrubber
    options: Mapping[str, Any] = field(default_factory=dict)
    """Command options and settings (``kubeconfig``, ``context``, ``health_timeout``, ...)."""
    shared: dict[str, Any] = field(default_factory=dict)
    """Connections that providers of one command share (the Kubernetes client)."""
    saving: bool = False
    """The plan will be saved: pins carry content fingerprints."""
    rendered: Sequence[Resource] = ()
    """Everything the stack renders, for every provider (for rules that span providers, such as
    which MIG configs the node labels select)."""


class PlanError(AiplaneError):
    """One or more resources could not be planned (each a located diagnostic)."""


class Provider(Protocol):
    """One backend's resources: read, plan, apply, wait, pin (see the module docstring)."""

    name: str
    concurrency: int

    def prepare(self, resources: Sequence[Resource]) -> list[Resource]:
        """Validate and normalise rendered resources; set each ``digest``."""
        ...

    def read(self, wanted: Sequence[Resource], recorded: Inventory) -> Live:
        """Live state of the wanted resources and of the stack's members."""
        ...

    def plan(self, wanted: Sequence[Resource], live: Live) -> list[Change]:
        """One ``Change`` per wanted resource, in order (raise ``PlanError`` on problems)."""
        ...

    def prune(self, wanted: Sequence[Resource], live: Live) -> list[Change]:
        """Deletions of the stack's members that are no longer wanted."""
        ...

    def pin_now(self, address: Address, live: Live) -> Pin | None:
        """The resource's pin now (None: it does not exist)."""
        ...

    def stage(self, address: Address) -> Stage:
        """The apply stage of a resource."""
        ...

    def apply(self, change: Change, wanted: Resource | None, live: Live) -> None:
        """Make one planned change (``wanted`` None for a delete)."""
        ...

    def settle(self, changes: Sequence[Change], say: Say, *, health: bool) -> None:
        """After a stage: refresh caches; wait for health when asked."""
        ...

    def inventory(self, wanted: Sequence[Resource]) -> Inventory:
        """What the stack's state records for this provider."""
        ...

    def warnings(self, changes: Sequence[Change]) -> list[str]:
        """Plan warnings about this provider's changes."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


@dataclass(frozen=True)
class Resolution:
    """What a data source made of one reference."""

    reference: str
    value: str
    version: str = ""


class DataSource(Protocol):
    """A read-only source consulted before render (Terraform's data sources).

    ``resolve`` gets every reference of its scheme found in the stack (``mlflow://llama@prod``)
    and returns a ``Resolution`` per reference, or raises ``AiplaneError`` naming the reference
    that could not be resolved. It never writes.
    """

    scheme: str

    def resolve(self, references: Sequence[str]) -> Mapping[str, Resolution]:
        """Resolve each reference."""
        ...


def plan_each(
    wanted: Sequence[Resource],
    one: Callable[[Resource], Change],
    *,
    concurrency: int,
    scrub: Callable[[str], str],
    stack_file: str,
    local: Callable[[Resource], Change | None] | None = None,
) -> list[Change]:
    """Plan every wanted resource with ``one``, concurrently; gather every problem.

    ``local`` decides without I/O where it can (None: ask ``one``): those run in this thread
    while the pool works on the rest. A failure becomes a diagnostic at the resource's source
    line; all of them are raised together as one ``PlanError``.
    """

    def safely(r: Resource) -> Change | Diagnostic:
        try:
            return one(r)
        except AiplaneError as exc:
            return located(r, scrub(f"{r.address}: {exc}"), stack_file)

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        pending = []
        for r in wanted:
            quick = local(r) if local is not None else None
            pending.append(quick if quick is not None else pool.submit(safely, r))
        done = [p if isinstance(p, Change) else p.result() for p in pending]
    problems = [d for d in done if isinstance(d, Diagnostic)]
    if problems:
        raise PlanError(f"{len(problems)} object(s) could not be planned", problems)
    return [c for c in done if isinstance(c, Change)]


def located(r: Resource, message: str, stack_file: str) -> Diagnostic:
    """A diagnostic at the stack line a resource came from (``FILE#Lline``)."""
    file, _, line = (r.source or stack_file).partition("#L")
    number = int(line) if line.isdigit() else 0
    return Diagnostic(message, file=file, line=number, column=1 if number else 0)
