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
from aiplane.gitops.pull import PullObject, PullStack, pull_stack
from aiplane.render.output_dir import StackOutput, as_list, refuse_conflicts, unique_objects

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
    outputs = _outputs(stacks, target)
    if target == "flux":
        return _write_flux(stacks, out_dir, flux_source, flux_namespace)
    if out_dir is not None:
        from aiplane.commands.render import to_json, to_yaml
        from aiplane.render.write_dir import write_dir

        count = write_dir(Path(out_dir), outputs, fmt,
                          lambda obj: to_json(obj) if fmt == "json" else to_yaml([obj]))  # fmt: skip
        say(f"wrote {count} object(s) to {out_dir}")
        return 0
    text = _dump(unique_objects(outputs), fmt)
    sys.stdout.write(text)
    sys.stdout.flush()
    return 0


def _outputs(stacks: list[PullStack], target: str) -> list[StackOutput]:
    """Per stack, its objects for ``target``; two stacks rendering one object differently are
    refused (a GitOps controller would flip between them)."""
    outputs = [StackOutput(s.name, s.file, [_for_target(o, target) for o in s.objects])
               for s in stacks]  # fmt: skip
    refuse_conflicts(outputs)
    return outputs


def say(message: str) -> None:
    print(message, file=sys.stderr)


def _report(stack: PullStack) -> None:
    for warning in stack.warnings:
        if warning.severity == "warning":
            say(warning.format())
    for note in stack.notes:
        say(f"note: {note}")
    say(f"stack {stack.name}: {len(stack.objects)} object(s) from {stack.file}")


def _for_target(obj: PullObject, target: str) -> dict[str, Any]:
    from aiplane.gitops.argocd import with_sync_wave

    return with_sync_wave(obj) if target == "argocd" else obj.body


def _dump(objects: list[dict[str, Any]], fmt: str) -> str:
    from aiplane.commands.render import to_json, to_yaml

    if fmt == "json":
        return to_json(as_list(objects))
    return to_yaml(objects) if objects else ""


def _write_flux(stacks: list[PullStack], out_dir: str | None, source: str, ns: str) -> int:
    from aiplane.commands.render import to_yaml
    from aiplane.gitops.flux import flux_files, write_tree

    if out_dir is None:
        raise AiplaneError("--for flux writes a directory of Kustomizations; pass -o DIR")
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
