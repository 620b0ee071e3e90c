"""The one decision rule: what a resource's observed state means as a planned action.

Every path that plans uses ``decide``: the live plan of every provider, the offline plan
(``--against``) and prune. The provider observes (reads live state, diffs, asks its backend for a
dry run, spots immutable fields and expected drift); ``decide`` turns those observations into a
``Change`` the same way for all of them:

============================  ===================  ======================================
observed                      action               reason
============================  ===================  ======================================
not wanted, exists            ``delete``           "no longer in the stack" + ``note``
wanted, does not exist        ``create``           ``reason`` or "new"
wanted, ``replace_reason``    ``replace``          ``replace_reason``
wanted, no diffs, drift       ``drift-expected``   ``reason`` or ``note``
wanted, no diffs              ``noop``             ``reason`` or ``note``
wanted, diffs                 ``update``           ``reason`` or "N field(s) change" + ``note``
============================  ===================  ======================================

The disruption of each change comes from the provider's ``classify`` (which knows that a rolling
Deployment restarts pods, or that a MIG layout drains nodes); the gates that follow from it are
``Plan.gates``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from aiplane.plan.address import Address
from aiplane.plan.diff import FieldDiff
from aiplane.plan.model import Action, Change, Disruption, DriftNote, Pin

Classify = Callable[[Action, Sequence[FieldDiff]], Disruption]
"""A provider's disruption rule: (action, diffs) -> disruption class."""


def no_disruption(action: Action, diffs: Sequence[FieldDiff]) -> Disruption:
    """The default rule: deleting or replacing recreates, changing in place is in-place."""
    if action in ("delete", "replace"):
        return "recreate"
    return "in-place" if action == "update" else "none"


def decide(
    address: Address,
    *,
    wanted: bool,
    exists: bool,
    diffs: Sequence[FieldDiff] = (),
    replace_reason: str = "",
    pin: Pin | None = None,
    expected_drift: tuple[DriftNote, ...] = (),
    estimate: bool = False,
    reason: str = "",
    note: str = "",
    classify: Classify = no_disruption,
    source: str = "",
    subject: str = "",
    desired_digest: str | None = None,
) -> Change:
    """The planned ``Change`` for one resource (see the module docstring for the table).

    ``wanted``: the stack renders it; ``exists``: the provider found it live (or, offline, in the
    earlier revision). ``diffs`` go from the live state to the wanted one (for a create: from
    nothing). ``pin`` is what freshness will compare at apply time (None: did not exist).
    """
    if not wanted:
        if not exists:
            raise ValueError(f"{address}: nothing to decide (neither wanted nor existing)")
        return Change("delete", address, "no longer in the stack" + note,
                      classify("delete", ()), pin=pin, source=source, subject=subject)  # fmt: skip
    shown = tuple(diffs)
    action: Action
    if not exists:
        action, why, pin = "create", reason or "new", None
    elif replace_reason:
        action, why = "replace", replace_reason
    elif not shown:
        action, why = ("drift-expected" if expected_drift else "noop"), reason or note
    else:
        action, why = "update", reason or f"{len(shown)} field(s) change{note}"
    quiet = action in ("noop", "drift-expected")
    return Change(
        action,
        address,
        why,
        "none" if quiet else classify(action, shown),
        shown,
        pin,
        source,
        subject,
        desired_digest,
        estimate,
        () if action == "create" else expected_drift,
    )
