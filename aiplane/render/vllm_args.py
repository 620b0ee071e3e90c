"""``vllm serve`` arguments for one model version, built from the stack.

The flag table and its checks are ``aiplane.engines.vllm``; render only assembles the arguments
(renamed flags under their new name).
"""

from __future__ import annotations

from aiplane.engines.vllm import PORT, flag_tokens, load_table, set_fields
from aiplane.providers.base import Resolution
from aiplane.stack.models import Model, ModelVersion

PVC_ROOT = "/mnt/models"  # where pvc:// weights are mounted
CACHE_DIR = "/model-cache"
FETCHED = f"{CACHE_DIR}/registry-model"  # where fetch_init puts a registry artifact
DIRECT_SCHEMES = ("s3://", "gs://")


def model_location(version: ModelVersion, resolved: Resolution | None = None) -> str:
    """What ``vllm serve`` gets as its model: an HF id, a mounted path or an object-store URI.

    A resolved registry reference loads its artifact URI: object stores directly, anything else
    (``mlflow-artifacts:/``, ``runs:/``, a path on the tracking server) from the cache volume,
    where ``vllm_fetch.fetch_init`` downloads it first.
    """
    if resolved is not None:
        return resolved.value if resolved.value.startswith(DIRECT_SCHEMES) else FETCHED
    source = version.source
    if source.startswith("hf://"):
        return source.removeprefix("hf://")
    if source.startswith("pvc://"):
        return f"{PVC_ROOT}/{source.removeprefix('pvc://')}"
    return source


def vllm_args(model: Model, version: ModelVersion, resolved: Resolution | None = None) -> list[str]:
    """The ``vllm serve`` arguments (after ``serve``) for one model version.

    ``resolved``: what the version's registry reference resolved to, when it has one.
    Assumes ``check_vllm_args`` found no error; renamed flags are emitted under their new name.
    """
    table = load_table()
    engine = model.serving.engine_version
    location = model_location(version, resolved)
    args = [
        location,
        "--host",
        "0.0.0.0",
        "--port",
        str(PORT),
        "--served-model-name",
        model.name,
    ]
    if version.source.startswith("hf://") and version.revision:
        args += ["--revision", version.revision]
    if location.startswith(DIRECT_SCHEMES):
        # vLLM streams object-store weights itself with the Run:ai model streamer.
        args += ["--load-format", "runai_streamer"]
    for _field, flag, value in set_fields(model):
        args += flag_tokens(table.check(flag, engine), value)
    for key, value in sorted(model.serving.extra_args.items()):
        args += flag_tokens(table.check(key, engine), value)
    return args
