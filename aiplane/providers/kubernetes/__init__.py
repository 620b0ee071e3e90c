"""Plan and apply against a live cluster (the only package of aiplane that talks HTTP).

Data flows one way: rendered manifests -> ``desired`` (identity, ownership labels) -> ``planner``
(live state read by label, no-request ``fastpath``, server-side dry-runs, ``drift`` presets,
``kinds`` rules) -> a frozen ``plan.Plan`` -> ``output`` (human, JSON, markdown) -> ``apply``
(stale check, staged server-side apply, ``health`` waits, prune) under a ``lock`` Lease.
``offline`` plans against another revision without a cluster. ``commands`` holds the CLI
entry points ``plan_main`` and ``apply_main``.
"""
