"""``spec.pipelines`` → Argo Workflows ``WorkflowTemplate`` (+ ``CronWorkflow`` when scheduled).

Built with hera (imported inside the functions: it is heavy and the CLI must start fast). One
template per step and one DAG template (``aiplane-dag``) whose tasks depend on each other with
``depends`` (a bare task name means succeeded, skipped or daemoned, so a skipped gate does not
fail its dependants).

* ``when: "evaluation.accuracy > 0.85"`` (grammar ``<step>.<output> <op> <value>``, op one of
  ``== != > >= < <=``, value a number, a quoted string or true/false; the regex is the stack
  checker's ``CONDITION``) becomes
  ``{{tasks.evaluation.outputs.parameters.accuracy}} > 0.85``. The step must be upstream.
* Every output parameter carries ``valueFrom.default`` (the stack's ``default``, "" if unset):
  since Argo 4.0 a reference to a skipped task's output resolves to that default instead of
  failing the consumer.
* Step parameters become input parameters, passed as ``--<name> <value>`` arguments and as
  ``AIPLANE_PARAM_<NAME>`` environment variables; pipeline parameters become workflow
  arguments, visible to every step as ``AIPLANE_PARAM_<NAME>``.
* ``sweep`` runs the task once per combination: ``withItems`` over the cartesian product (keys
  sorted), each parameter taking ``{{item.<name>}}``.
* ``register-model`` / ``promote-model`` steps run MLflow's client in the ``ghcr.io/mlflow/mlflow``
  image (``REGISTRY_IMAGE``) with a short inline Python script (``_REGISTRY_SCRIPT``): register
  creates a model version from ``source`` tagged ``aiplane.version=<version>``; promote sets the
  MLflow alias ``<stage>`` on the version with that tag (or, when the stack version's source is a
  pinned ``mlflow://NAME/N``, directly on version N of NAME). The tracking URI and token come
  from ``tracking.registry`` (or ``tracking.mlflowTrackingUri``), else from the stack's default
  MLflow registry; the token only ever as a Secret reference (``MLFLOW_TRACKING_TOKEN``).
  ``{{steps.<step>.outputs.<name>}}`` in a version, source or parameter value becomes
  ``{{tasks.<step>.outputs.parameters.<name>}}``.
  The registry records the decision; serving changes when the stack's ``deployments`` change.
* GPU steps get the pool's nodeSelector and tolerations and ``nvidia.com/gpu`` (or the MIG
  resource) limits; ``priority`` becomes ``priorityClassName``; ``retries`` a ``retryStrategy``.
  With ``spec.queues`` they also carry the Kueue queue and priority labels (and multi-GPU steps
  the one-node topology annotation), so each step's pod waits in its pool's queue.
* Workflow-wide: ``podGC`` (delete pods of succeeded steps after a minute, keep failed ones for
  debugging) and ``ttlStrategy`` (``ttlSecondsAfterFinished``).
"""

from __future__ import annotations

import itertools
import re
from typing import Any

from aiplane.errors import StackError
from aiplane.render.common import Context, Obj, accelerator, quantity, tolerations
from aiplane.stack.check_pipelines import CONDITION
from aiplane.stack.model_refs import RegistryRef, parse_ref
from aiplane.stack.models import Pipeline, Registry, Step
from aiplane.stack.sections.base import EnvSource

DAG_NAME = "aiplane-dag"
REGISTRY_IMAGE = "ghcr.io/mlflow/mlflow:v2.22.0"
_REGISTRY_SCRIPT = """\
import sys
from mlflow import MlflowClient
action, model, version, stage, source = sys.argv[1:6]
client = MlflowClient()
if action == "register-model":
    mv = client.create_model_version(model, source, tags={"aiplane.version": version})
    print(f"registered {model} version {mv.version} ({version})")
elif action == "promote-version":
    client.set_registered_model_alias(model, stage, version)
    print(f"{model} version {version} -> alias {stage}")
else:
    found = client.search_model_versions(f"name='{model}' and tags.`aiplane.version`='{version}'")
    if not found:
        sys.exit(f"{model}: no version tagged aiplane.version={version}")
    client.set_registered_model_alias(model, stage, found[0].version)
    print(f"{model} {version} -> alias {stage}")
"""


def render_pipelines(ctx: Context) -> list[Obj]:
    out: list[Obj] = []
    for index, pipeline in enumerate(ctx.loaded.stack.spec.pipelines):
        path = ("spec", "pipelines", index)
        template = _workflow_template(ctx, index, pipeline)
        # The Argo UI shows this annotation as the template's description.
        notes = (
            {"workflows.argoproj.io/description": pipeline.description}
            if pipeline.description
            else None
        )
        template["metadata"] = ctx.meta(
            pipeline.name, path, f"pipeline {pipeline.name}", annotations=notes
        )
        out.append(template)
        if pipeline.schedule is not None:
            cron = _cron_workflow(pipeline)
            cron["metadata"] = ctx.meta(
                pipeline.name, (*path, "schedule"), f"pipeline {pipeline.name}"
            )
            out.append(cron)
    return out


def translate_when(ctx: Context, index: int, s_index: int, step: Step, pipeline: Pipeline) -> str:
    """The stack's ``<step>.<output> <op> <value>`` as an Argo (govaluate) expression."""
    assert step.when is not None
    path = ("spec", "pipelines", index, "steps", s_index, "when")
    match = CONDITION.match(step.when)  # the grammar the stack checks accept
    if match is None:
        _fail(
            ctx,
            path,
            f"cannot read condition '{step.when}'",
            "write <step>.<output> <op> <number or 'string'>, e.g. evaluation.accuracy > 0.85",
        )
    assert match is not None
    source, output, op, rhs = match["step"], match["output"], match["op"], match["value"]
    producer = next((s for s in pipeline.steps if s.name == source), None)
    if producer is None or source not in _ancestors(pipeline, step.name):
        _fail(
            ctx,
            path,
            f"condition reads step '{source}', which does not run before '{step.name}'",
            f"add {source} to dependsOn",
        )
    assert producer is not None
    if output not in {o.name for o in producer.outputs}:
        _fail(
            ctx,
            path,
            f"step '{source}' has no output '{output}'",
            "declare it under the step's outputs",
        )
    ref = f"{{{{tasks.{source}.outputs.parameters.{output}}}}}"
    if rhs[0] in "'\"":
        ref = f"'{ref}'"  # govaluate compares strings only when both sides are quoted
        rhs = "'" + rhs[1:-1] + "'"
    return f"{ref} {op} {rhs}"


_STEP_REF = re.compile(r"\{\{\s*steps\.([a-z0-9-]+)\.outputs\.([a-z0-9-]+)\s*\}\}")


def argo_refs(text: str) -> str:
    """The stack's ``{{steps.<step>.outputs.<name>}}`` as the DAG reference Argo resolves."""
    return _STEP_REF.sub(r"{{tasks.\1.outputs.parameters.\2}}", text)


def _fail(ctx: Context, path: tuple[str | int, ...], message: str, hint: str) -> None:
    raise StackError(
        f"{ctx.loaded.path}: invalid pipeline", [ctx.loaded.diagnostic(path, message, hint)]
    )


def _ancestors(pipeline: Pipeline, name: str) -> set[str]:
    by_name = {s.name: s for s in pipeline.steps}
    seen: set[str] = set()
    todo = list(by_name[name].depends_on)
    while todo:
        current = todo.pop()
        if current in seen or current not in by_name:
            continue
        seen.add(current)
        todo.extend(by_name[current].depends_on)
    return seen


def _env_name(param: str) -> str:
    return "AIPLANE_PARAM_" + re.sub(r"[^A-Za-z0-9]", "_", param).upper()


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _env(ctx: Context, pipeline: Pipeline, step: Step) -> list[Any]:
    from hera.workflows import Env, SecretEnv

    env: list[Any] = _tracking_env(ctx, pipeline, step)
    for name in sorted(pipeline.parameters):
        env.append(Env(name=_env_name(name), value=f"{{{{workflow.parameters.{name}}}}}"))
    for name in sorted(set(step.parameters) | set(step.sweep)):
        env.append(Env(name=_env_name(name), value=f"{{{{inputs.parameters.{name}}}}}"))
    for name, value in sorted(step.env.items()):
        if isinstance(value, EnvSource):
            ref = value.secret_ref
            env.append(SecretEnv(name=name, secret_name=ref.name, secret_key=ref.key))
        else:
            env.append(Env(name=name, value=_text(value)))
    return env


def _tracking_registry(ctx: Context, pipeline: Pipeline, step: Step) -> Registry | None:
    """The MLflow registry a step talks to: the tracking's, else (registry steps) the default."""
    spec = ctx.loaded.stack.spec
    tracking = pipeline.tracking
    if tracking is not None and tracking.registry is not None:
        return spec.registry(tracking.registry)
    if tracking is None and step.kind != "container":
        return spec.default_registry("mlflow")
    return None


def _tracking_env(ctx: Context, pipeline: Pipeline, step: Step) -> list[Any]:
    """MLFLOW_TRACKING_URI, experiment, run name and, by Secret only, the tracking token."""
    from hera.workflows import Env, SecretEnv

    registry = _tracking_registry(ctx, pipeline, step)
    tracking = pipeline.tracking
    uri = registry.pod_uri() if registry is not None else None
    if tracking is not None and tracking.mlflow_tracking_uri is not None:
        uri = tracking.mlflow_tracking_uri
    if uri is None:
        return []
    env: list[Any] = [Env(name="MLFLOW_TRACKING_URI", value=uri)]
    if tracking is not None:
        env.append(Env(name="MLFLOW_EXPERIMENT_NAME", value=tracking.experiment))
    env.append(Env(name="MLFLOW_RUN_NAME", value=f"{{{{workflow.name}}}}-{step.name}"))
    secret = registry.credentials.secret_ref if registry and registry.credentials else None
    if secret is not None:
        env.append(SecretEnv(name="MLFLOW_TRACKING_TOKEN", secret_name=secret.name,
                             secret_key=secret.key))  # fmt: skip
    return env


def _resources(ctx: Context, step: Step) -> Any:
    from hera.workflows import models as m

    pool = ctx.loaded.stack.spec.pool(step.pool) if step.pool else None
    limits: dict[str, Any] = {}
    requests: dict[str, Any] = {}
    if step.resources.gpus or step.resources.mig_profile:
        key, count = accelerator(pool, step.resources.gpus, step.resources.mig_profile)
        limits[key] = m.Quantity(str(count))
    if step.resources.cpu is not None:
        requests["cpu"] = m.Quantity(quantity(step.resources.cpu))
    if step.resources.memory is not None:
        requests["memory"] = limits["memory"] = m.Quantity(quantity(step.resources.memory))
    if not limits and not requests:
        return None
    return m.ResourceRequirements(limits=limits or None, requests=requests or None)


def _retry(step: Step) -> Any:
    from hera.workflows import models as m

    retries = step.retries
    if retries is None or retries.limit == 0:
        return None
    backoff = None
    if retries.backoff_seconds is not None:
        backoff = m.Backoff(
            duration=f"{retries.backoff_seconds}s",
            factor=m.IntOrString(_text(retries.backoff_factor)) if retries.backoff_factor else None,
            max_duration=f"{retries.max_backoff_seconds}s" if retries.max_backoff_seconds else None,
        )
    return m.RetryStrategy(
        limit=m.IntOrString(str(retries.limit)), retry_policy=retries.policy, backoff=backoff
    )


def _command(
    ctx: Context, index: int, s_index: int, pipeline: Pipeline, step: Step
) -> tuple[str, list[str], list[str]]:
    """(image, command, args) of a step."""
    if step.kind == "container":
        if not step.image:
            _fail(
                ctx,
                ("spec", "pipelines", index, "steps", s_index),
                "container steps need an image",
                "set image",
            )
        args = list(step.args)
        for name in sorted(set(step.parameters) | set(step.sweep)):
            args += [f"--{name}", f"{{{{inputs.parameters.{name}}}}}"]
        return step.image or "", list(step.command), args
    action = step.model_action
    if action is None:
        _fail(
            ctx,
            ("spec", "pipelines", index, "steps", s_index),
            f"{step.kind} steps need modelAction",
            "set modelAction: {model, version, stage}",
        )
    assert action is not None
    if pipeline.tracking is None and _tracking_registry(ctx, pipeline, step) is None:
        ctx.warn(
            ("spec", "pipelines", index, "steps", s_index),
            f"{step.kind} uses MLflow but the pipeline has no tracking URI",
            "set tracking.registry (or tracking.mlflowTrackingUri), or add an mlflow registry",
        )
    pinned = _pinned_version(ctx, step)
    if pinned is not None:
        # The stack names the exact MLflow version: set the alias on it, no tag search.
        args = ["promote-version", pinned.model, pinned.version or "", action.stage, ""]
        return step.image or REGISTRY_IMAGE, ["python", "-c", _REGISTRY_SCRIPT], args
    version, source = argo_refs(action.version), argo_refs(action.source or "")
    args = [step.kind, action.model, version, action.stage, source]
    return step.image or REGISTRY_IMAGE, ["python", "-c", _REGISTRY_SCRIPT], args


def _pinned_version(ctx: Context, step: Step) -> RegistryRef | None:
    """For a promote step whose version is a stack version with a pinned MLflow source, its ref."""
    action = step.model_action
    if step.kind != "promote-model" or action is None:
        return None
    model = ctx.loaded.stack.spec.model(action.model)
    version = model.version(action.version) if model else None
    ref = parse_ref(version.source) if version else None
    if ref is None or ref.type != "mlflow" or ref.version is None:
        return None
    return ref


def _container(ctx: Context, index: int, s_index: int, pipeline: Pipeline, step: Step) -> Any:
    from hera.workflows import Container, Parameter
    from hera.workflows import models as m

    pool = ctx.loaded.stack.spec.pool(step.pool) if step.pool else None
    image, command, args = _command(ctx, index, s_index, pipeline, step)
    inputs = [Parameter(name=n) for n in sorted(set(step.parameters) | set(step.sweep))]
    outputs = [
        Parameter(name=o.name, value_from=m.ValueFrom(path=o.path, default=o.default))
        for o in step.outputs
    ]
    taints = tolerations(pool)
    labels, notes = _queue_metadata(ctx, step)
    return Container(
        name=step.name,
        image=image,
        command=command or None,
        args=args or None,
        env=_env(ctx, pipeline, step) or None,
        inputs=inputs or None,
        outputs=outputs or None,
        resources=_resources(ctx, step),
        retry_strategy=_retry(step),
        node_selector=pool.selector() if pool else None,
        tolerations=[m.Toleration(**t) for t in taints] or None,
        priority_class_name=step.priority,
        active_deadline_seconds=step.timeout_seconds,
        labels=labels or None,
        annotations=notes or None,
    )


def _queue_metadata(ctx: Context, step: Step) -> tuple[dict[str, str], dict[str, str]]:
    """Kueue labels (queue, priority) and the one-node topology annotation of a GPU step; Kueue
    admits each step's pod through its plain-Pod integration."""
    from aiplane.render.kueue import queue_labels, topology_annotations

    if not (step.resources.gpus or step.resources.mig_profile):
        return {}, {}
    pool = ctx.loaded.stack.spec.pool(step.pool) if step.pool else None
    labels = queue_labels(ctx, step.pool, step.priority)
    if not labels:
        return {}, {}
    return labels, topology_annotations(ctx, pool, "auto", step.resources.gpus)


def _sweep_items(step: Step) -> list[dict[str, Any]] | None:
    if not step.sweep:
        return None
    keys = sorted(step.sweep)
    return [
        dict(zip(keys, combo, strict=True))
        for combo in itertools.product(*(step.sweep[k] for k in keys))
    ]


def _task_arguments(step: Step) -> dict[str, str]:
    args = {name: argo_refs(_text(value)) for name, value in step.parameters.items()}
    for name in step.sweep:
        args[name] = f"{{{{item.{name}}}}}"
    return dict(sorted(args.items()))


def _workflow_template(ctx: Context, index: int, pipeline: Pipeline) -> Obj:
    from hera.workflows import DAG, Parameter, Task, WorkflowTemplate
    from hera.workflows import models as m

    if DAG_NAME in {s.name for s in pipeline.steps}:
        _fail(
            ctx,
            ("spec", "pipelines", index, "steps"),
            f"'{DAG_NAME}' is reserved",
            "rename the step",
        )
    with WorkflowTemplate(
        name=pipeline.name,
        entrypoint=DAG_NAME,
        arguments=[
            Parameter(name=k, value=_text(v)) for k, v in sorted(pipeline.parameters.items())
        ]
        or None,
        pod_gc=m.PodGC(strategy="OnPodSuccess", delete_delay_duration="60s"),
        ttl_strategy=m.TTLStrategy(seconds_after_completion=pipeline.ttl_seconds_after_finished),
        service_account_name=pipeline.service_account,
        workflow_metadata=m.WorkflowMetadata(labels={"aiplane.dev/pipeline": pipeline.name}),
    ) as template:
        steps = {
            s.name: _container(ctx, index, i, pipeline, s) for i, s in enumerate(pipeline.steps)
        }
        with DAG(name=DAG_NAME):
            for s_index, step in enumerate(pipeline.steps):
                Task(
                    name=step.name,
                    template=steps[step.name],
                    depends=" && ".join(step.depends_on) or None,
                    when=translate_when(ctx, index, s_index, step, pipeline) if step.when else None,
                    arguments=_task_arguments(step) or None,
                    with_items=_sweep_items(step),
                )
    built: Obj = template.to_dict()
    return built


def _cron_workflow(pipeline: Pipeline) -> Obj:
    from hera.workflows import CronWorkflow
    from hera.workflows import models as m

    schedule = pipeline.schedule
    assert schedule is not None
    cron = CronWorkflow(
        name=pipeline.name,
        schedules=list(schedule.cron),  # v4 removed the singular 'schedule'
        timezone=schedule.timezone,
        concurrency_policy=schedule.concurrency_policy,
        cron_suspend=schedule.suspend or None,
        workflow_template_ref=m.WorkflowTemplateRef(name=pipeline.name),
    )
    built: Obj = cron.to_dict()
    return built
