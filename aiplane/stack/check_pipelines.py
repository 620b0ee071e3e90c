"""Pipeline checks: steps exist, the DAG has no cycle, conditions read real upstream outputs."""

from __future__ import annotations

import re

from aiplane.errors import Diagnostic
from aiplane.stack.checks import check_reference, check_unique
from aiplane.stack.loader import LoadedStack
from aiplane.stack.models import Pipeline, Step
from aiplane.stack.yamlpos import Path

CONDITION = re.compile(
    r"^\s*(?P<step>[a-z0-9-]+)\.(?P<output>[a-z0-9-]+)\s*(?P<op>==|!=|>=|<=|>|<)\s*"
    r"(?P<value>-?[0-9]+(\.[0-9]+)?([eE]-?[0-9]+)?|'[^']*'|\"[^\"]*\"|true|false)\s*$"
)


def check_pipelines(loaded: LoadedStack) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    for index, pipeline in enumerate(loaded.stack.spec.pipelines):
        path: Path = ("spec", "pipelines", index)
        found += check_unique(loaded, pipeline.steps, (*path, "steps"), "step")
        found += _check_edges(loaded, path, pipeline)
        found += _check_cycle(loaded, path, pipeline)
        for step_index, step in enumerate(pipeline.steps):
            found += _check_step(loaded, (*path, "steps", step_index), pipeline, step)
    return found


def _check_edges(loaded: LoadedStack, path: Path, pipeline: Pipeline) -> list[Diagnostic]:
    names = [s.name for s in pipeline.steps]
    found: list[Diagnostic] = []
    for index, step in enumerate(pipeline.steps):
        for dep_index, dep in enumerate(step.depends_on):
            here = (*path, "steps", index, "dependsOn", dep_index)
            if dep == step.name:
                found.append(loaded.diagnostic(here, f"step {step.name} depends on itself"))
            else:
                found += check_reference(
                    loaded, dep, names, here, f"step of pipeline {pipeline.name}"
                )
    return found


def _check_cycle(loaded: LoadedStack, path: Path, pipeline: Pipeline) -> list[Diagnostic]:
    graph = {s.name: [d for d in s.depends_on if d != s.name] for s in pipeline.steps}
    cycle = find_cycle(graph)
    if not cycle:
        return []
    index = next(i for i, s in enumerate(pipeline.steps) if s.name == cycle[0])
    ring = " -> ".join([*cycle, cycle[0]])
    return [
        loaded.diagnostic(
            (*path, "steps", index, "dependsOn"),
            f"pipeline {pipeline.name} has a dependency cycle: {ring}",
            "remove one of these dependsOn entries",
        )
    ]


def find_cycle(graph: dict[str, list[str]]) -> list[str]:
    """One dependency cycle's members in order, or [] when the graph is acyclic."""
    state: dict[str, int] = {}
    trail: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        trail.append(node)
        for nxt in graph.get(node, []):
            if nxt not in graph:
                continue
            if state.get(nxt) == 1:
                return trail[trail.index(nxt) :]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = 2
        trail.pop()
        return []

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return []


def ancestors(graph: dict[str, list[str]], node: str) -> set[str]:
    seen: set[str] = set()
    stack = list(graph.get(node, []))
    while stack:
        current = stack.pop()
        if current not in seen:
            seen.add(current)
            stack.extend(graph.get(current, []))
    return seen


def _check_step(
    loaded: LoadedStack, path: Path, pipeline: Pipeline, step: Step
) -> list[Diagnostic]:
    spec = loaded.stack.spec
    found = check_reference(
        loaded, step.pool, [p.name for p in spec.gpu_pools], (*path, "pool"), "pool"
    )
    found += check_reference(
        loaded,
        step.priority,
        [c.name for c in spec.priorities.classes],
        (*path, "priority"),
        "priority class",
    )
    if step.kind == "container" and not step.image:
        found.append(
            loaded.diagnostic(
                path, f"step {step.name} needs an image", "add image: <registry/name:tag>"
            )
        )
    if step.kind != "container":
        found += _check_model_action(loaded, path, step)
    if (step.resources.gpus or step.resources.mig_profile) and step.pool is None:
        found.append(
            loaded.diagnostic((*path, "pool"), f"step {step.name} uses GPUs but names no pool")
        )
    pool = spec.pool(step.pool) if step.pool else None
    if pool and step.resources.gpus > pool.gpus_per_node:
        found.append(
            loaded.diagnostic(
                (*path, "resources", "gpus"),
                f"step {step.name} asks for {step.resources.gpus} GPUs; a node of pool {pool.name} has {pool.gpus_per_node}",
                "multi-GPU steps must fit one node (one NVLink island)",
            )
        )
    if step.when is not None:
        found += _check_condition(loaded, (*path, "when"), pipeline, step)
    return found


def _check_model_action(loaded: LoadedStack, path: Path, step: Step) -> list[Diagnostic]:
    action = step.model_action
    if action is None:
        return [
            loaded.diagnostic(
                path,
                f"a {step.kind} step needs modelAction",
                "add modelAction: {model: <name>, version: <version>}",
            )
        ]
    spec = loaded.stack.spec
    found = check_reference(
        loaded,
        action.model,
        [m.name for m in spec.models],
        (*path, "modelAction", "model"),
        "model",
    )
    model = spec.model(action.model)
    if model and step.kind == "promote-model" and "{{" not in action.version:
        found += check_reference(
            loaded,
            action.version,
            [v.name for v in model.versions],
            (*path, "modelAction", "version"),
            f"version of model {model.name}",
        )
    if step.kind == "register-model" and not action.source:
        found.append(
            loaded.diagnostic((*path, "modelAction"), "register-model needs modelAction.source")
        )
    return found


def _check_condition(
    loaded: LoadedStack, path: Path, pipeline: Pipeline, step: Step
) -> list[Diagnostic]:
    assert step.when is not None
    match = CONDITION.match(step.when)
    if not match:
        return [
            loaded.diagnostic(
                path,
                "cannot read the condition",
                "write <step>.<output> <op> <value>, e.g. evaluation.accuracy > 0.85",
            )
        ]
    source, output = match["step"], match["output"]
    graph = {s.name: list(s.depends_on) for s in pipeline.steps}
    upstream = ancestors(graph, step.name)
    producer = next((s for s in pipeline.steps if s.name == source), None)
    if producer is None:
        return check_reference(
            loaded,
            source,
            [s.name for s in pipeline.steps],
            path,
            f"step of pipeline {pipeline.name}",
        )
    if source not in upstream:
        return [
            loaded.diagnostic(
                path,
                f"condition reads step {source}, which step {step.name} does not depend on",
                f"add {source} to dependsOn",
            )
        ]
    outputs = [o.name for o in producer.outputs]
    return check_reference(loaded, output, outputs, path, f"output of step {source}")
