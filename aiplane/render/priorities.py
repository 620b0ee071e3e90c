"""``spec.priorities`` → ``scheduling.k8s.io/v1`` PriorityClasses.

PriorityClasses are cluster-scoped and workloads name them in ``priorityClassName``, so the
stack's class name is used as-is: the vLLM Deployments and Argo steps refer to the same string.
A priority scale is cluster-wide, so several stacks may declare the same class: it is shared by
field (``aiplane.dev/ownership: fields``), and a stack that gives it another value or description
is refused at plan time, naming the stack that set it.
"""

from __future__ import annotations

from aiplane.render.common import Context, Obj


def render_priorities(ctx: Context) -> list[Obj]:
    priorities = ctx.loaded.stack.spec.priorities
    out: list[Obj] = []
    for index, cls in enumerate(priorities.classes):
        preempt = priorities.preemption if cls.preemption is None else cls.preemption
        obj: Obj = {
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": ctx.shared_meta(
                cls.name,
                ("spec", "priorities", "classes", index),
                f"priority {cls.name}",
                namespace=None,
            ),
            "value": cls.value,
            # Never: the class still orders the queue but does not evict running pods.
            "preemptionPolicy": "PreemptLowerPriority" if preempt else "Never",
        }
        if cls.global_default:
            # only when true: the API drops a false one, and server-side apply would then see
            # two stacks that both say false as setting different values
            obj["globalDefault"] = True
        if cls.description:
            obj["description"] = cls.description
        out.append(obj)
    return out
