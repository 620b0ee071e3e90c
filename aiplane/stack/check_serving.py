"""Traffic must reach running pods: production (and weighted canary) deployments with zero
replicas, and routes to models that serve nothing, are errors rather than empty backends."""

from __future__ import annotations

from aiplane.errors import Diagnostic
from aiplane.stack.loader import LoadedStack
from aiplane.stack.models import Deployment, Model


def replicas_of(model: Model, deployment: Deployment) -> int:
    """Replicas a deployment runs: its own, else the autoscaling minimum, else the model's."""
    if deployment.replicas is not None:
        return deployment.replicas
    return model.autoscaling.min_replicas if model.autoscaling else model.replicas


def check_serving(loaded: LoadedStack) -> list[Diagnostic]:
    spec = loaded.stack.spec
    found: list[Diagnostic] = []
    for m_index, model in enumerate(spec.models):
        for d_index, deployment in enumerate(model.deployments):
            takes_traffic = deployment.stage == "production" or (
                deployment.stage == "canary" and (deployment.weight or 0) > 0
            )
            if takes_traffic and replicas_of(model, deployment) == 0:
                found.append(
                    loaded.diagnostic(
                        ("spec", "models", m_index, "deployments", d_index),
                        f"the {deployment.stage} deployment of model {model.name} has zero "
                        "replicas, so its traffic has nowhere to go",
                        "set replicas (on the model or this deployment) to 1 or more",
                    )
                )
    for r_index, route in enumerate(spec.routes):
        for b_index, backend in enumerate(route.backends):
            target = spec.model(backend.local.model) if backend.local else None
            if target is None:
                continue  # external, or an unknown model (reported elsewhere)
            serving = [d for d in target.deployments if replicas_of(target, d) > 0]
            if not serving:
                found.append(
                    loaded.diagnostic(
                        ("spec", "routes", r_index, "backends", b_index, "local", "model"),
                        f"model {target.name} has no deployment with replicas, so backend "
                        f"{backend.name} of route {route.name} would have no endpoints",
                        f"deploy a version of model {target.name}, or remove this backend",
                    )
                )
    return found
