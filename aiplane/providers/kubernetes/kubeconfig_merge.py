"""Read the kubeconfig files the way kubectl does: ``$KUBECONFIG`` lists are merged.

kubectl's rules (client-go ``clientcmd`` loading rules):

* ``--kubeconfig FILE`` names one file, which must exist;
* else every entry of ``$KUBECONFIG`` (``:``-separated; ``;`` on Windows), in order, missing files
  ignored; else ``~/.kube/config`` if it exists;
* the first file that defines a cluster, user, context or ``current-context`` wins; later
  definitions of the same name are ignored, not merged field by field;
* relative file paths (certificate files, ``tokenFile``, an exec ``command`` with a directory
  part) are resolved against the directory of the file that names them, before merging.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from aiplane.errors import AiplaneError

SECTIONS = {"clusters": "cluster", "users": "user", "contexts": "context"}
_PATH_KEYS = {
    "cluster": ("certificate-authority",),
    "user": ("client-certificate", "client-key", "tokenFile"),
}


class KubeconfigFileError(AiplaneError):
    """A kubeconfig file exists but cannot be used."""


def kubeconfig_files(explicit: str | None = None) -> list[Path]:
    """The files to read, in precedence order (existing or not, except the explicit one)."""
    if explicit:
        return [Path(explicit)]
    env = os.environ.get("KUBECONFIG", "")
    listed = [Path(p) for p in env.split(os.pathsep) if p]
    if listed:
        return list(dict.fromkeys(listed))
    return [Path.home() / ".kube" / "config"]


def read_one(path: Path) -> dict[str, Any]:
    """One kubeconfig file, parsed, with its relative paths made absolute."""
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise KubeconfigFileError(f"kubeconfig {path}: cannot read: {exc}") from exc
    if not isinstance(doc, dict):
        raise KubeconfigFileError(f"kubeconfig {path}: not a mapping")
    base = path.parent.resolve()
    for section, key in SECTIONS.items():
        for entry in doc.get(section) or []:
            if isinstance(entry, dict) and isinstance(entry.get(key), dict):
                entry[key] = _resolve_paths(key, entry[key], base)
    return doc


def _resolve_paths(key: str, body: Mapping[str, Any], base: Path) -> dict[str, Any]:
    out = dict(body)
    for field in _PATH_KEYS.get(key, ()):
        value = out.get(field)
        if value and not Path(str(value)).expanduser().is_absolute():
            out[field] = str(base / str(value))
        elif value:
            out[field] = str(Path(str(value)).expanduser())
    exec_section = out.get("exec")
    if key == "user" and isinstance(exec_section, dict):
        command = str(exec_section.get("command") or "")
        # a bare name is looked up on PATH; only "bin/plugin" style commands are file paths
        if os.sep in command and not Path(command).is_absolute():
            out["exec"] = {**exec_section, "command": str(base / command)}
    return out


def merge(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """Merge parsed files, earlier files first: first definition of each name wins."""
    merged: dict[str, Any] = {section: [] for section in SECTIONS}
    seen: dict[str, set[str]] = {section: set() for section in SECTIONS}
    for doc in docs:
        if not merged.get("current-context") and doc.get("current-context"):
            merged["current-context"] = doc["current-context"]
        for section in SECTIONS:
            for entry in doc.get(section) or []:
                name = entry.get("name") if isinstance(entry, dict) else None
                if isinstance(name, str) and name not in seen[section]:
                    seen[section].add(name)
                    merged[section].append(entry)
    return merged


def load_merged(explicit: str | None = None) -> tuple[dict[str, Any], str] | None:
    """The merged kubeconfig and a description of where it came from; None when no file exists
    (so the caller may fall back to the in-cluster configuration)."""
    files = kubeconfig_files(explicit)
    if explicit and not files[0].is_file():
        raise KubeconfigFileError(f"kubeconfig {explicit}: not found")
    present = [f for f in files if f.is_file()]
    if not present:
        return None
    source = str(present[0]) if len(present) == 1 else os.pathsep.join(map(str, present))
    return merge([read_one(f) for f in present]), source
