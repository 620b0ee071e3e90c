"""``aiplane render --offline [--for plain|argocd|flux]``: manifests for pull-mode GitOps.

The contract an Argo CD plugin needs: only manifests on stdout, everything else on stderr, and on
any error a non-zero exit with *nothing* on stdout (Argo CD prunes everything an empty render
leaves out). So the whole output is built in memory and written in one piece at the very end.
Byte-identical across runs and machines: objects and keys in a fixed order, no timestamps, no
paths, nothing from the environment but the plugin parameters.

``--for plain``  the objects ``aiplane apply`` writes, minus ApplySet membership (for
                 ``kubectl apply --server-side`` or any other applier);
``--for argocd`` the same with apply stages as ``argocd.argoproj.io/sync-wave`` (the default
                 when ``ARGOCD_APP_NAME`` is set);
``--for flux``   a directory (``-o DIR``): one folder per stage and Flux Kustomizations chained
                 with ``dependsOn`` (see ``aiplane.gitops.flux``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from aiplane.errors import AiplaneError
from aiplane.gitops.pull import PullStack, pull_stack

TARGETS = ("plain", "argocd", "flux")


def offline_render_main(
    files: Sequence[str],
    out_dir: str | None,
    fmt: str,
    target: str | None,
    *,
    flux_source: str = "",
    flux_namespace: str = "flux-system",
    environ: Mapping[str, str] | None = None,
) -> int:
    """Render for a pull-mode applier; see the module docstring."""
    from aiplane.gitops.argocd import in_argocd, plugin_settings

    env = os.environ if environ is None else environ
    target = target or ("argocd" if in_argocd(env) else "plain")
    if target not in TARGETS:
        raise AiplaneError(f"--for {target}: expected one of {', '.join(TARGETS)}")
    labels: Mapping[str, str] = {}
    if target == "argocd":
        settings = plugin_settings(files, env)
        files, labels = settings.files, settings.labels
        say(f"aiplane render: {settings.describe()}: {', '.join(files)}")
    elif not files:
        raise AiplaneError("render: name at least one stack file")
    stacks = [pull_stack(f, dict(labels)) for f in files]
    for stack in stacks:
        _report(stack)
    if target == "flux":
        return _write_flux(stacks, out_dir, flux_source, flux_namespace)
    objects = [_for_target(o, target) for s in stacks for o in s.objects]
    if out_dir is not None:
        return _write_dir(objects, Path(out_dir), fmt)
    text = _dump(objects, fmt)
    sys.stdout.write(text)
    sys.stdout.flush()
    return 0


def say(message: str) -> None:
    print(message, file=sys.stderr)


def _report(stack: PullStack) -> None:
    for warning in stack.warnings:
        if warning.severity == "warning":
            say(warning.format())
    for note in stack.notes:
        say(f"note: {note}")
    say(f"stack {stack.name}: {len(stack.objects)} object(s) from {stack.file}")


def _for_target(obj: Any, target: str) -> dict[str, Any]:
    from aiplane.gitops.argocd import with_sync_wave

    return with_sync_wave(obj) if target == "argocd" else dict(obj.body)


def _dump(objects: list[dict[str, Any]], fmt: str) -> str:
    from aiplane.commands.render import to_json, to_yaml

    if fmt == "json":
        return to_json({"apiVersion": "v1", "kind": "List", "items": objects})
    return to_yaml(objects) if objects else ""


def _write_dir(objects: list[dict[str, Any]], root: Path, fmt: str) -> int:
    from aiplane.commands.render import object_path, to_json, to_yaml

    for obj in objects:
        target = root / object_path(obj, fmt)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(to_json(obj) if fmt == "json" else to_yaml([obj]))
    say(f"wrote {len(objects)} object(s) to {root}")
    return 0


def _write_flux(stacks: list[PullStack], out_dir: str | None, source: str, ns: str) -> int:
    from aiplane.commands.render import to_yaml
    from aiplane.gitops.flux import flux_files, write_tree

    if out_dir is None:
        raise AiplaneError("--for flux writes a directory of Kustomizations; pass -o DIR")
    if len({s.name for s in stacks}) < len(stacks):
        raise AiplaneError("--for flux: two stack files have the same stack name")
    kind, _, name = (source or "OCIRepository/").partition("/")
    if kind not in ("OCIRepository", "GitRepository", "Bucket"):
        raise AiplaneError(
            f"--flux-source {source}: expected OCIRepository|GitRepository|Bucket/NAME"
        )
    files: dict[str, list[dict[str, Any]]] = {}
    for stack in stacks:
        files.update(flux_files(stack, kind, name or stack.name, ns))
    write_tree(Path(out_dir), files, to_yaml)
    say(f"wrote the Flux layout of {len(stacks)} stack(s) to {out_dir}")
    return 0
