"""The permissions plan and apply need for one stack, derived from what it renders.

One source for three uses: ``aiplane rbac FILE`` prints them as Roles and a ClusterRole, plan and
apply check them up front with SelfSubjectAccessReviews (``access``), and the README shows them.

What each command does, and so needs:

* reads stay inside the namespaces the stack uses: ``get``/``list`` per kind per namespace, and
  cluster-wide only for the cluster-scoped kinds it renders;
* plan compares with server-side-apply dry runs, which Kubernetes authorizes exactly like writes:
  ``patch`` and ``create`` on every kind, plan included;
* apply adds ``delete`` (prune and replace) and its bookkeeping in the system namespace: the
  ApplySet parent (a ConfigMap) and the stack lock (a Lease);
* ``NodeLabels`` (MIG layouts) read and patch Nodes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

Purpose = Literal["plan", "apply"]
READ = ("get", "list")
WRITE = ("patch", "create")
NODE_LABELS = "NodeLabels"
# kinds whose plural is not "kind + s" by the usual English rules
_IRREGULAR = {"Endpoints": "endpoints"}


@dataclass(frozen=True, order=True)
class Permission:
    """One verb on one resource in one namespace ("" for cluster-scoped or cluster-wide)."""

    namespace: str
    group: str
    resource: str
    verb: str
    name: str = ""  # a single object, when the need is that narrow

    def missing_text(self) -> str:
        """``cannot patch deployments.apps in ai-platform``."""
        what = f"{self.resource}.{self.group}" if self.group else self.resource
        if self.name:
            what += f" {self.name}"
        where = f"in {self.namespace}" if self.namespace else "cluster-wide"
        return f"cannot {self.verb} {what} {where}"


def plural(kind: str) -> str:
    """The REST resource name Kubernetes derives from a kind (what discovery would say)."""
    if kind in _IRREGULAR:
        return _IRREGULAR[kind]
    low = kind.lower()
    if low.endswith(("s", "x", "z", "ch", "sh")):
        return low + "es"
    if low.endswith("y") and low[-2:-1] not in "aeiou":
        return low[:-1] + "ies"
    return low + "s"


Resolve = Callable[[str, str], tuple[str, bool] | None]  # (apiVersion, kind) -> plural, namespaced


def required(
    manifests: Iterable[Mapping[str, Any]],
    purpose: Purpose,
    *,
    system_namespace: str,
    resolve: Resolve | None = None,
    extra_namespaces: Iterable[str] = (),
) -> list[Permission]:
    """Every permission ``purpose`` needs for these rendered manifests, sorted, no duplicates.

    ``resolve`` (discovery) gives plurals and scope when a cluster is at hand; without it they
    come from the manifests (a ``metadata.namespace`` means namespaced)."""
    kinds: dict[tuple[str, str], tuple[str, bool]] = {}
    namespaces = {ns for ns in extra_namespaces if ns}
    node_labels = False
    for m in manifests:
        kind, api_version = str(m.get("kind", "")), str(m.get("apiVersion", ""))
        if kind == NODE_LABELS:
            node_labels = True
            continue
        ns = str((m.get("metadata") or {}).get("namespace") or "")
        found = resolve(api_version, kind) if resolve else None
        res, namespaced = found if found else (plural(kind), bool(ns))
        kinds.setdefault((api_version.rpartition("/")[0], kind), (res, namespaced))
        if namespaced and ns:
            namespaces.add(ns)
    verbs = READ + WRITE + (("delete",) if purpose == "apply" else ())
    out: set[Permission] = set()
    for (group, _kind), (res, namespaced) in kinds.items():
        for ns in sorted(namespaces) if namespaced else [""]:
            out.update(Permission(ns, group, res, v) for v in verbs)
    if node_labels:
        out.update(Permission("", "", "nodes", v) for v in ("get", "list", "patch"))
    # preflight: a namespace the stack writes into but does not create must exist (one GET each)
    out.update(Permission("", "", "namespaces", "get", ns) for ns in namespaces)
    out.update(_bookkeeping(purpose, system_namespace))
    return sorted(out)


def _bookkeeping(purpose: Purpose, system_ns: str) -> list[Permission]:
    """The ApplySet parent and the lock in the system namespace."""
    perms = [Permission(system_ns, "", "configmaps", "get"),
             Permission(system_ns, "coordination.k8s.io", "leases", "get")]  # fmt: skip
    if purpose == "apply":
        perms += [Permission(system_ns, "", "configmaps", v) for v in ("patch", "create")]
        perms += [
            Permission(system_ns, "coordination.k8s.io", "leases", v)
            for v in ("create", "update", "delete")
        ]
        perms.append(Permission("", "", "namespaces", "get", system_ns))
    return perms


def roles(perms: Iterable[Permission], name: str) -> list[dict[str, Any]]:
    """Roles (one per namespace) and a ClusterRole granting exactly ``perms``."""
    by_ns: dict[str, dict[tuple[str, str, str], set[str]]] = {}
    for p in perms:
        rule = by_ns.setdefault(p.namespace, {}).setdefault((p.group, p.resource, p.name), set())
        rule.add(p.verb)
    out: list[dict[str, Any]] = []
    for ns in sorted(by_ns):
        rules = [_rule(g, r, n, verbs) for (g, r, n), verbs in sorted(by_ns[ns].items())]
        meta: dict[str, Any] = {"name": name}
        kind = "ClusterRole" if not ns else "Role"
        if ns:
            meta["namespace"] = ns
        out.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind,
                    "metadata": meta, "rules": rules})  # fmt: skip
    return out


def _rule(group: str, resource: str, name: str, verbs: set[str]) -> dict[str, Any]:
    rule: dict[str, Any] = {"apiGroups": [group], "resources": [resource]}
    if name:
        rule["resourceNames"] = [name]
    rule["verbs"] = sorted(verbs)
    return rule


def bindings(role_objects: Iterable[Mapping[str, Any]], subject: str) -> list[dict[str, Any]]:
    """RoleBindings/ClusterRoleBinding of ``roles`` to the ServiceAccount ``NAMESPACE:NAME``."""
    sa_ns, _, sa_name = subject.partition(":")
    who = [{"kind": "ServiceAccount", "name": sa_name, "namespace": sa_ns}]
    out: list[dict[str, Any]] = []
    for role in role_objects:
        meta = dict(role["metadata"])
        kind = f"{role['kind']}Binding"
        ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": role["kind"], "name": meta["name"]}
        out.append({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind,
                    "metadata": meta, "roleRef": ref, "subjects": who})  # fmt: skip
    return out
