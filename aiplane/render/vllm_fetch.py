"""An init container that downloads a registry artifact vLLM cannot read by itself.

vLLM loads Hugging Face ids, local paths and (with the Run:ai streamer) ``s3://``/``gs://``. A
resolved MLflow artifact elsewhere (``mlflow-artifacts:/`` through the tracking server, ``runs:/``,
a path on the server) is downloaded first by MLflow's own client into the pod's model cache, and
vLLM loads that directory. The tracking URI is the registry's in-cluster one; its token comes only
from the registry's Secret.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiplane.render.common import Context, Obj
from aiplane.render.vllm_args import CACHE_DIR
from aiplane.render.vllm_args import FETCHED as TARGET
from aiplane.stack.check_registries import version_registry
from aiplane.stack.models import ModelVersion

if TYPE_CHECKING:
    from aiplane.providers.base import Resolution

MLFLOW_IMAGE = "ghcr.io/mlflow/mlflow:v3.7.0"
_SCRIPT = """\
import os, shutil, sys
from mlflow.artifacts import download_artifacts
uri, target = sys.argv[1:3]
shutil.rmtree(target, ignore_errors=True)
path = download_artifacts(artifact_uri=uri, dst_path=target + ".partial")
os.replace(path, target)
print(f"fetched {uri} -> {target}")
"""


def fetch_init(ctx: Context, version: ModelVersion, resolved: Resolution | None) -> Obj:
    """``{"initContainers": [...]}`` when the artifact needs fetching, else ``{}``."""
    if resolved is None or resolved.value.startswith(("s3://", "gs://")):
        return {}
    registry = version_registry(ctx.loaded.stack.spec, version)
    env: list[Obj] = []
    if registry is not None and registry.type == "mlflow":
        env.append({"name": "MLFLOW_TRACKING_URI", "value": registry.pod_uri()})
        secret = registry.credentials.secret_ref if registry.credentials else None
        if secret is not None:
            env.append(
                {
                    "name": "MLFLOW_TRACKING_TOKEN",
                    "valueFrom": {"secretKeyRef": {"name": secret.name, "key": secret.key}},
                }
            )
    container: Obj = {
        "name": "fetch-model",
        "image": MLFLOW_IMAGE,
        "command": ["python", "-c", _SCRIPT],
        "args": [resolved.value, TARGET],
        "env": env,
        "volumeMounts": [{"name": "model-cache", "mountPath": CACHE_DIR}],
    }
    return {"initContainers": [container]}
