"""GPU knowledge and placement, pure and testable (no cluster access).

* ``catalog`` — GPU models, MIG profiles per GPU; ``layouts`` — which profile multisets fit one
  GPU and where; ``architectures`` + ``memory`` — what a served model needs per GPU.
* ``planner.plan_placement`` — slices, MIG layouts and nodes for a set of workloads, minimising
  GPUs exactly (``solver``, HiGHS) with a first-fit fallback (``greedy``); ``options``,
  ``materialise`` and ``outcomes`` are its steps.
* ``from_stack.placement_for_stack`` — the same for a stack; ``check_pools`` and ``check_models``
  — GPU feasibility checks of a stack (``model_memory`` estimates what a model needs).

Nothing here imports highspy at module level: the CLI loads it only when a plan is solved.
"""
