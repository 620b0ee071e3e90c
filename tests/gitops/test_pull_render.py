"""``aiplane render --offline`` run as Argo CD's plugin server runs it (see argocd_like.py), and
the Flux layout checked by a real ``kustomize build``."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.gitops.argocd_like import (
    REPO,
    checkout,
    no_network,
    objects,
    params,
    plugin_env,
    run_generate,
)

GPU_NS = "gpu-operator"


def is_shared(doc: dict[str, Any]) -> bool:
    """Objects stacks share by field (the GPU Operator's, priority classes): no ownership labels."""
    kind, ns = doc["kind"], doc["metadata"].get("namespace")
    return kind in ("ClusterPolicy", "PriorityClass", "WorkloadPriorityClass") or ns == GPU_NS


def test_sandbox_has_only_loopback(tmp_path: Path) -> None:
    probe = "import socket; print(sorted(n for _, n in socket.if_nameindex()))"
    out = subprocess.run(no_network([sys.executable, "-c", probe]), capture_output=True,
                         text=True, check=True)  # fmt: skip
    assert out.stdout.strip() == "['lo']"


def test_argocd_plugin_render_is_a_clean_object_stream(tmp_path: Path) -> None:
    source = checkout(tmp_path)
    env = plugin_env(tmp_path, ARGOCD_APP_PARAMETERS=params(stack="seed.yaml"))
    res = run_generate(source, env)
    assert res.returncode == 0, res.stderr.decode()
    docs = objects(res.stdout)
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "ClusterPolicy", "WorkflowTemplate", "PriorityClass"} <= kinds
    assert not kinds & {"Lease", "NodeLabels"}  # no lock, no pseudo-objects
    for d in docs:
        meta = d["metadata"]
        assert not meta["name"].startswith("applyset-")
        assert "applyset.k8s.io/part-of" not in meta.get("labels", {})
        assert "aiplane.dev/source" not in meta.get("annotations", {})
        if is_shared(d):  # shared with other stacks: no ownership labels at all
            assert "aiplane.dev/stack" not in meta.get("labels", {})
        else:
            assert meta["labels"]["aiplane.dev/stack"] == "seed"
        assert meta["annotations"]["argocd.argoproj.io/sync-wave"] in "01234"
    waves = [int(d["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]) for d in docs]
    assert waves == sorted(waves)  # listed in apply order too
    wave_of = {
        d["kind"]: d["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"] for d in docs
    }
    assert wave_of["Namespace"] < wave_of["ClusterPolicy"] < wave_of["Deployment"]
    assert wave_of["Deployment"] < wave_of["HTTPRoute"] < wave_of["WorkflowTemplate"]
    err = res.stderr.decode()
    assert "Argo CD application ai-prod" in err and "stack seed:" in err
    assert "NodeLabels/a100: left out" in err  # said on stderr, not silently dropped
    assert b"warning" not in res.stdout


def test_two_runs_on_two_machines_are_byte_identical(tmp_path: Path) -> None:
    first = run_generate(checkout(tmp_path, "a"),
                         plugin_env(tmp_path, ARGOCD_APP_PARAMETERS=params(stack="seed.yaml"),
                                    TZ="UTC", LANG="C.UTF-8", PYTHONHASHSEED="1"))  # fmt: skip
    # another checkout path, clock zone, locale, hash seed, app name and revision
    second = run_generate(checkout(tmp_path, "elsewhere/b"),
                          plugin_env(tmp_path / "other-home", app="ai-prod-eu",
                                     ARGOCD_APP_PARAMETERS=params(stack="seed.yaml"),
                                     ARGOCD_APP_REVISION="f" * 40, TZ="Asia/Tokyo",
                                     LANG="de_DE.UTF-8", PYTHONHASHSEED="2"))  # fmt: skip
    assert first.returncode == second.returncode == 0, second.stderr.decode()
    assert first.stdout == second.stdout
    assert len(first.stdout) > 10_000


@pytest.mark.parametrize(
    "case",
    [
        "invalid-stack",
        "missing-file",
        "bad-parameters-json",
        "unknown-parameter",
        "path-escape",
        "conflicting-stacks",
    ],
)
def test_any_error_exits_nonzero_with_empty_stdout(tmp_path: Path, case: str) -> None:
    source = checkout(tmp_path)
    broken = (source / "seed.yaml").read_text().replace("gpu: H100-80GB", "gpu: H100-80GBX")
    (source / "broken.yaml").write_text(broken)
    value = {
        "invalid-stack": params(stack="broken.yaml"),
        "missing-file": params(stack="nope.yaml"),
        "bad-parameters-json": "[{not json",
        "unknown-parameter": params(stak="seed.yaml"),
        "path-escape": params(stack="../../../etc/passwd"),
        # both own the GPU Operator's ClusterPolicy, configured differently
        "conflicting-stacks": params(stacks=["seed.yaml", "laptop.yaml"]),
    }[case]
    res = run_generate(source, plugin_env(tmp_path, ARGOCD_APP_PARAMETERS=value))
    assert res.returncode != 0
    assert res.stdout == b""
    assert res.stderr.strip()
    if case == "conflicting-stacks":
        assert b"ClusterPolicy/cluster-policy: rendered by both stack" in res.stderr
    if case == "invalid-stack":
        assert b"broken.yaml:52:7: spec.gpuPools[1].gpu: unknown GPU model" in res.stderr


def test_parameters_choose_stacks_and_add_labels(tmp_path: Path) -> None:
    source = checkout(tmp_path)
    laptop = (source / "laptop.yaml").read_text()
    (source / "laptop2.yaml").write_text(laptop.replace("name: laptop", "name: laptop2")
                                         .replace("namespace: dev", "namespace: dev2"))  # fmt: skip
    env = plugin_env(tmp_path, ARGOCD_APP_PARAMETERS=params(
        stacks=["laptop.yaml", "laptop2.yaml"], labels={"env": "prod"}))  # fmt: skip
    res = run_generate(source, env)
    assert res.returncode == 0, res.stderr.decode()
    docs = objects(res.stdout)
    owned = [d for d in docs if not is_shared(d)]
    assert {d["metadata"]["labels"]["aiplane.dev/stack"] for d in owned} == {"laptop", "laptop2"}
    assert [d["kind"] for d in docs].count("ClusterPolicy") == 1  # the same one, once
    assert all(d["metadata"]["labels"]["env"] == "prod" for d in owned)
    # the plugin's env var, and the plugin's default file name
    env = plugin_env(tmp_path, ARGOCD_ENV_AIPLANE_STACK="laptop.yaml")
    docs = objects(run_generate(source, env).stdout)
    assert {d["metadata"]["labels"]["aiplane.dev/stack"] for d in docs if not is_shared(d)} == {
        "laptop"
    }
    (source / "aiplane.yaml").write_text((source / "laptop.yaml").read_text())
    res = run_generate(source, plugin_env(tmp_path))
    assert res.returncode == 0 and objects(res.stdout)


def test_plain_offline_render_matches_what_apply_writes(tmp_path: Path) -> None:
    """--for plain is the objects apply prepares (providers.kubernetes.desired), minus ApplySet."""
    from aiplane.commands.stackfile import render_file
    from aiplane.providers.kubernetes.applyset import ApplySet
    from aiplane.providers.kubernetes.desired import prepare
    from aiplane.providers.kubernetes.offline import offline_scope
    from aiplane.providers.kubernetes.shared_doc import merge_into

    res = subprocess.run(no_network([sys.executable, "-m", "aiplane", "render", "--offline",
                                     str(REPO / "stacks/seed.yaml")]),
                         capture_output=True, check=False)  # fmt: skip
    assert res.returncode == 0, res.stderr.decode()
    stack, items = render_file(str(REPO / "stacks/seed.yaml"))
    desired = prepare(items, applyset=ApplySet(stack, "x"), default_namespace="default",
                      scope=offline_scope)  # fmt: skip
    want = {}
    for d in desired:
        if d.ref.kind != "NodeLabels":
            body = d.create_body  # a shared object is created whole, and records its entries
            if d.merge is not None:
                body = merge_into(d.merge, body, None, stack).body
            body = yaml.safe_load(yaml.safe_dump(body))
            if not d.configured:
                del body["metadata"]["labels"]["applyset.k8s.io/part-of"]
            want[(d.ref.kind, d.ref.namespace, d.ref.name)] = body
    got = {(o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]): o
           for o in objects(res.stdout)}  # fmt: skip
    assert got == want


def test_flux_layout_is_accepted_by_kustomize(tmp_path: Path, kustomize: Path) -> None:
    out = tmp_path / "rendered"
    res = subprocess.run(no_network([sys.executable, "-m", "aiplane", "render", "--offline",
                                     "--for", "flux", "--flux-source", "OCIRepository/ai-stacks",
                                     "-o", str(out), str(REPO / "stacks/seed.yaml")]),
                         capture_output=True, text=True, check=False)  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert res.stdout == ""

    def build(folder: Path) -> list[dict[str, object]]:
        proc = subprocess.run(no_network([str(kustomize), "build", str(folder)]),
                              capture_output=True, text=True, check=False)  # fmt: skip
        assert proc.returncode == 0, f"kustomize build {folder}: {proc.stderr}"
        return [d for d in yaml.safe_load_all(proc.stdout) if d]

    stage_dirs = sorted((out / "seed" / "stages").iterdir())
    # Go's YAML 1.2 reads the learning rate back as the string it is, not as the float 2e-05
    workflows = build(out / "seed" / "stages" / "4-workflows")
    assert "value: '2e-5'" in (out / "seed/stages/4-workflows/objects.yaml").read_text()
    assert '"2e-5"' in json.dumps(workflows) and "2e-05" not in json.dumps(workflows)
    assert [d.name for d in stage_dirs] == [
        "0-crds", "1-cluster-config", "2-workloads", "3-routes", "4-workflows"]  # fmt: skip
    staged = [o for d in stage_dirs for o in build(d)]
    plain = subprocess.run([sys.executable, "-m", "aiplane", "render", "--offline",
                            str(REPO / "stacks/seed.yaml")], capture_output=True, check=True)  # fmt: skip

    def key(o: dict[str, object]) -> tuple[str, str, str]:
        meta = o["metadata"]
        assert isinstance(meta, dict)
        return str(o["kind"]), str(meta.get("namespace", "")), str(meta["name"])

    assert sorted(map(key, staged)) == sorted(map(key, objects(plain.stdout)))
    built = build(out / "seed" / "flux")  # kustomize accepts it (and reorders by kind/name)
    chain = list(yaml.safe_load_all((out / "seed/flux/kustomizations.yaml").read_text()))
    assert sorted(map(key, built)) == sorted(map(key, chain))
    assert [k["metadata"]["name"] for k in chain] == [  # type: ignore[index]
        "seed-crds", "seed-cluster-config", "seed-workloads", "seed-routes", "seed-workflows"]  # fmt: skip
    for before, after in itertools.pairwise(chain):
        assert after["spec"]["dependsOn"] == [{"name": before["metadata"]["name"]}]  # type: ignore[index]
    for k in chain:
        spec = k["spec"]
        assert isinstance(spec, dict)
        assert spec["sourceRef"] == {"kind": "OCIRepository", "name": "ai-stacks"}
        assert spec["wait"] is True and spec["prune"] is True
        assert (out / spec["path"]).is_dir()
    config = next(k for k in chain if k["metadata"]["name"] == "seed-cluster-config")  # type: ignore[index]
    exprs = config["spec"]["healthCheckExprs"]  # type: ignore[index]
    assert exprs[0]["kind"] == "ClusterPolicy" and "ready" in exprs[0]["current"]


def test_flux_needs_a_directory(tmp_path: Path) -> None:
    res = subprocess.run([sys.executable, "-m", "aiplane", "render", "--offline", "--for", "flux",
                          str(REPO / "stacks/laptop.yaml")], capture_output=True, check=False)  # fmt: skip
    assert res.returncode == 1 and res.stdout == b"" and b"-o DIR" in res.stderr


def test_argocd_component_builds_into_an_argocd_install(tmp_path: Path, kustomize: Path) -> None:
    """deploy/argocd as a kustomize Component on a minimal Argo CD install."""
    import shutil

    shutil.copytree(REPO / "deploy" / "argocd", tmp_path / "aiplane")
    (tmp_path / "install.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: argocd-repo-server}\n"
        "spec:\n  selector: {matchLabels: {app: rs}}\n  template:\n    metadata: {labels: {app: rs}}\n"
        "    spec:\n      containers: [{name: argocd-repo-server, image: argocd}]\n"
        "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: argocd-cm}\n"
        "data: {url: 'https://argocd.example'}\n"
    )
    (tmp_path / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        "resources: [install.yaml]\ncomponents: [aiplane]\n"
    )
    res = subprocess.run(no_network([str(kustomize), "build", str(tmp_path)]),
                         capture_output=True, text=True, check=False)  # fmt: skip
    assert res.returncode == 0, res.stderr
    docs = {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(res.stdout) if d}
    cm = docs[("ConfigMap", "argocd-cm")]["data"]
    assert cm["url"] == "https://argocd.example"  # merged, not replaced
    for key in ("nvidia.com_ClusterPolicy", "_Node", "apps_Deployment"):
        assert "hs.status" in cm[f"resource.customizations.health.{key}"]
    plugin = yaml.safe_load(docs[("ConfigMap", "aiplane-cmp")]["data"]["plugin.yaml"])
    assert plugin["spec"]["generate"]["command"][:3] == ["aiplane", "render", "--offline"]
    pod = docs[("Deployment", "argocd-repo-server")]["spec"]["template"]["spec"]
    sidecar = next(c for c in pod["containers"] if c["name"] == "aiplane")
    assert sidecar["command"] == ["/var/run/argocd/argocd-cmp-server"]
    assert sidecar["securityContext"]["runAsUser"] == 999
    mounts = {m["mountPath"] for m in sidecar["volumeMounts"]}
    assert "/home/argocd/cmp-server/config/plugin.yaml" in mounts and "/tmp" in mounts
    assert {c["name"] for c in pod["containers"]} == {"argocd-repo-server", "aiplane"}


def test_resources_of_other_providers_are_named_not_dropped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A target that renders for another provider (here a vector database) cannot go through a
    GitOps controller: pull mode leaves it out and says so."""
    import aiplane.render as render
    from aiplane.gitops.pull import pull_stack
    from aiplane.plan.address import Address
    from aiplane.providers.base import Resource

    real = render.targets

    def with_qdrant() -> dict[str, render.Target]:
        def qdrant(ctx: render.Context) -> list[render.Obj]:
            ctx.add(Resource(Address("qdrant", "collection", "", "docs"), {"size": 768}))
            return []

        return {**real(), "qdrant": qdrant}

    monkeypatch.setattr(render, "targets", with_qdrant)
    stack = pull_stack(str(REPO / "stacks/laptop.yaml"))
    assert any(n.startswith("collection docs: left out: the qdrant provider") for n in stack.notes)
    assert {o.ref.kind for o in stack.objects} >= {"Deployment", "Namespace"}
