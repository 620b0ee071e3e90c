"""The Kubernetes provider: plan and apply API objects of one stack with server-side apply.

``client`` (HTTP, discovery) and ``kubeconfig`` connect; ``desired`` adds identity and ownership
labels; ``provider`` reads live state by ApplySet label, proves no-ops locally (``fastpath``), asks
the server for a dry-run otherwise, keeps fields other controllers own as expected drift
(``drift``), and decides each change with ``aiplane.plan.decide``; ``kinds`` holds immutable
fields and disruption rules, ``kind_table`` the facts about kinds, ``labels`` the contract with
render. ``applyset`` records the stack's state on the ApplySet parent; ``lock`` is the stack's
Lease; ``health`` waits per kind; ``offline`` plans against another revision without a cluster.
"""
