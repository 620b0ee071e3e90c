"""Argo CD: the config-management plugin's settings and the sync-wave annotations.

Argo CD's plugin server runs ``aiplane render --offline --for argocd`` in the application's source
directory with the ``ARGOCD_*`` environment (see deploy/argocd/plugin.yaml):

* ``ARGOCD_APP_PARAMETERS``: JSON list of the application's plugin parameters. Known names:
  ``stack`` (string: stack file), ``stacks`` (array: stack files), ``labels`` (map: labels added
  to every object). An unknown name is an error: a typo must fail the render, not change it.
* ``ARGOCD_ENV_AIPLANE_STACK``: stack file(s), comma-separated (``plugin.env`` in the app).
* ``ARGOCD_APP_NAME``, ``ARGOCD_APP_NAMESPACE``, ``ARGOCD_APP_REVISION``,
  ``ARGOCD_APP_SOURCE_PATH``: named on stderr, never written into objects (they would make the
  output depend on who renders it).

Files come from, in order: the command line, ``stack``/``stacks``, ``ARGOCD_ENV_AIPLANE_STACK``,
else ``aiplane.yaml``. Stack paths must stay inside the source directory.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiplane.errors import AiplaneError
from aiplane.gitops.pull import PullObject

SYNC_WAVE = "argocd.argoproj.io/sync-wave"
SYNC_OPTIONS = "argocd.argoproj.io/sync-options"
DEFAULT_STACK = "aiplane.yaml"
PARAMETERS = "ARGOCD_APP_PARAMETERS"
ENV_STACK = "ARGOCD_ENV_AIPLANE_STACK"
# Groups every cluster serves; objects of other groups are custom resources whose CRD an
# operator may install in the same sync, so Argo CD must not fail its dry run for them.
BUILTIN_GROUPS = frozenset(
    {"", "apps", "batch", "policy", "autoscaling", "scheduling.k8s.io", "rbac.authorization.k8s.io",
     "networking.k8s.io", "storage.k8s.io", "coordination.k8s.io", "apiextensions.k8s.io"}
)  # fmt: skip


@dataclass(frozen=True)
class PluginSettings:
    """What the plugin environment asks for."""

    files: tuple[str, ...]
    labels: Mapping[str, str] = field(default_factory=dict)
    app: str = ""

    def describe(self) -> str:
        return f"Argo CD application {self.app}" if self.app else "Argo CD plugin"


def in_argocd(environ: Mapping[str, str]) -> bool:
    """True when run by Argo CD's plugin server."""
    return bool(environ.get("ARGOCD_APP_NAME"))


def plugin_settings(cli_files: Sequence[str], environ: Mapping[str, str]) -> PluginSettings:
    """Stack files and labels from the command line and the ``ARGOCD_*`` environment."""
    params = _parameters(environ.get(PARAMETERS, ""))
    files: list[str] = list(cli_files)
    if not files:
        files = _param_files(params)
    if not files and environ.get(ENV_STACK, "").strip():
        files = [f.strip() for f in environ[ENV_STACK].split(",") if f.strip()]
    if not files:
        files = [DEFAULT_STACK]
    labels = params.get("labels", {})
    if not isinstance(labels, dict):
        raise AiplaneError(f"{PARAMETERS}: parameter labels must be a map")
    for f in files:
        _inside(f)
    app = environ.get("ARGOCD_APP_NAME", "")
    return PluginSettings(tuple(files), {str(k): str(v) for k, v in labels.items()}, app)


def _parameters(text: str) -> dict[str, Any]:
    if not text.strip():
        return {}
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AiplaneError(f"{PARAMETERS}: not JSON: {exc.msg} at {exc.pos}") from exc
    if not isinstance(doc, list):
        raise AiplaneError(f"{PARAMETERS}: must be a JSON list of parameters")
    out: dict[str, Any] = {}
    for item in doc:
        name = item.get("name") if isinstance(item, dict) else None
        if name not in ("stack", "stacks", "labels"):
            raise AiplaneError(
                f"{PARAMETERS}: unknown parameter {name!r} (known: stack, stacks, labels)"
            )
        value = next((item[k] for k in ("string", "array", "map") if k in item), None)
        out[str(name)] = value
    return out


def _param_files(params: Mapping[str, Any]) -> list[str]:
    files: list[str] = []
    if isinstance(params.get("stack"), str) and params["stack"].strip():
        files.append(params["stack"].strip())
    stacks = params.get("stacks")
    if stacks is not None:
        if not isinstance(stacks, list) or not all(isinstance(s, str) for s in stacks):
            raise AiplaneError(f"{PARAMETERS}: parameter stacks must be an array of paths")
        files += [s for s in stacks if s.strip()]
    return files


def _inside(file: str) -> None:
    """The plugin reads the repository only: no absolute paths, no ``..`` out of it."""
    path = Path(file)
    if path.is_absolute() or ".." in path.parts:
        raise AiplaneError(f"{file}: stack path must be relative and inside the source directory")


def with_sync_wave(obj: PullObject) -> dict[str, Any]:
    """The object with its apply stage as Argo CD sync wave (CRDs first, workflows last)."""
    body = obj.body
    meta = dict(body["metadata"])
    anns = {**(meta.get("annotations") or {}), SYNC_WAVE: str(obj.stage)}
    if obj.ref.group not in BUILTIN_GROUPS:
        anns[SYNC_OPTIONS] = "SkipDryRunOnMissingResource=true"
    meta["annotations"] = dict(sorted(anns.items()))
    return {**body, "metadata": meta}
