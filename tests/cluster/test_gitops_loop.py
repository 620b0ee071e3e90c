"""The GitOps loop on the real control plane.

* Pull mode: ``render --offline`` output, run as Argo CD's plugin server runs it and applied
  with ``kubectl apply --server-side`` (a plain client, Argo CD's field manager), gives the same
  objects as ``aiplane apply`` of the same stack, ApplySet metadata and sync-wave annotations
  aside.
* The action: a live PR plan saved as the PR's artifact (served by a fake GitHub) is applied on
  merge; a plan the cluster moved away from is refused.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
# tests/cluster is not a package (its conftest is imported as a top-level module), so the
# repository root is put on the path for the helpers shared with tests/gitops.
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
from tests.gitops.argocd_like import checkout, params, plugin_env, run_generate  # noqa: E402
from tests.gitops.conftest import GitRepo  # noqa: E402
from tests.gitops.fake_github import FakeGitHub  # noqa: E402

pytestmark = pytest.mark.cluster
SERVER_FIELDS = ("managedFields", "resourceVersion", "uid", "creationTimestamp", "generation")


@pytest.fixture
def short_ns(kubectl: Any) -> Any:
    """A fresh namespace with a short name (stack names become parts of object names)."""
    import uuid

    name = f"g-{uuid.uuid4().hex[:8]}"
    kubectl("create", "namespace", name)
    # The stacks here are named after it and render it: label it as a sync of that stack's
    # render leaves it (aiplane never adopts a hand-made Namespace without `aiplane import`).
    kubectl("label", "namespace", name, f"aiplane.dev/stack={name}",
            "app.kubernetes.io/managed-by=aiplane")  # fmt: skip
    yield name
    kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found")


def own_stack(text: str, name: str, namespace: str, old_name: str, old_ns: str) -> str:
    """An example stack renamed to this test's stack name and namespace."""
    return text.replace(f"  name: {old_name}\n", f"  name: {name}\n", 1).replace(
        f"namespace: {old_ns}\n", f"namespace: {namespace}\n", 1
    )


def served(kubeconfig: Path, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The objects whose kinds this apiserver serves (CRDs the tests do not install are left
    out, as in test_example_stack_apply_then_plan_is_empty)."""
    from aiplane.providers.kubernetes.client import KubeClient
    from aiplane.providers.kubernetes.kubeconfig import load_kubeconfig

    with KubeClient(load_kubeconfig(str(kubeconfig))) as client:
        return [d for d in docs if d["kind"] == "NodeLabels"
                or client.resource(d["apiVersion"], d["kind"])]  # fmt: skip


def snapshot(kubectl: Any, docs: list[dict[str, Any]]) -> dict[tuple[str, str, str], Any]:
    """The live objects, without what the server or the tool's bookkeeping adds."""
    out = {}
    for d in docs:
        meta = d["metadata"]
        ns = ["-n", meta["namespace"]] if meta.get("namespace") else []
        kind = (
            f"{d['kind']}.{d['apiVersion'].split('/')[0]}" if "/" in d["apiVersion"] else d["kind"]
        )
        live = json.loads(kubectl("get", kind, meta["name"], *ns, "-o", "json").stdout)
        live.pop("status", None)
        for field in SERVER_FIELDS:
            live["metadata"].pop(field, None)
        labels = live["metadata"].get("labels", {})
        labels.pop("applyset.k8s.io/part-of", None)
        anns = live["metadata"].get("annotations", {})
        for key in [k for k in anns if k.startswith("argocd.argoproj.io/")]:
            del anns[key]
        if not anns:  # an empty map is no annotations (a ClusterPolicy carries none of aiplane's)
            live["metadata"].pop("annotations", None)
        if d["kind"] == "Service":  # allocated anew on each create
            for field in ("clusterIP", "clusterIPs"):
                live["spec"].pop(field, None)
        out[(d["kind"], meta.get("namespace", ""), meta["name"])] = live
    return out


def destroy(kubeconfig: Path, stack: str, tmp: Path) -> None:
    """Prune every member of the stack's ApplySet, through the CLI: apply an empty bundle."""
    empty = tmp / f"empty-{stack}.json"
    empty.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "metadata": {"name": stack},
                                 "items": []}))  # fmt: skip
    res = aiplane("apply", str(empty), "--yes", "--allow-delete", "--allow-namespace-delete",
                  kubeconfig=kubeconfig)  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr


def aiplane(*args: str, kubeconfig: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "AIPLANE_NO_WAIT": "1", "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "aiplane", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300, check=False)  # fmt: skip


def test_argocd_output_applied_by_kubectl_equals_aiplane_apply(
    tmp_path: Path, kubeconfig: Path, kubectl: Any, short_ns: str
) -> None:
    source = checkout(tmp_path)
    text = own_stack((source / "seed.yaml").read_text(), short_ns, short_ns, "seed", "ai-platform")
    (source / "seed.yaml").write_text(text)
    res = run_generate(
        source, plugin_env(tmp_path, ARGOCD_APP_PARAMETERS=params(stack="seed.yaml"))
    )
    assert res.returncode == 0, res.stderr.decode()
    # the plugin's bytes as they are (only kinds this apiserver lacks are cut out): re-dumping
    # them here could hide a quoting bug that Go's YAML 1.2 parser would trip over
    texts = [t for t in re.split(r"(?m)^---\n", res.stdout.decode()) if t.strip()]
    docs = [yaml.safe_load(t) for t in texts]
    pulled = served(kubeconfig, docs)
    assert {"ClusterPolicy", "Deployment", "WorkflowTemplate", "PriorityClass"} <= {
        d["kind"] for d in pulled
    }
    for ns in sorted({d["metadata"].get("namespace") for d in pulled} - {None, short_ns}):
        kubectl("create", "namespace", ns, check=False)

    manifest = tmp_path / "pulled.yaml"
    kept = {id(d) for d in pulled}
    manifest.write_text("---\n".join(t for t, d in zip(texts, docs, strict=True) if id(d) in kept))
    kubectl("apply", "--server-side", "--field-manager=argocd-controller", "-f", str(manifest))
    by_kubectl = snapshot(kubectl, pulled)

    # remove them again (the Namespace stays: it holds this test), then aiplane applies the stack
    rest = tmp_path / "rest.yaml"
    rest.write_text(yaml.safe_dump_all([d for d in pulled if d["kind"] != "Namespace"]))
    kubectl("delete", "-f", str(rest), "--wait=true", "--timeout=120s")
    from aiplane.commands.stackfile import render_file

    stack_file = tmp_path / "seed.yaml"
    stack_file.write_text(text)
    stack, items = render_file(str(stack_file))
    bundle = tmp_path / "bundle.json"
    bundle.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "metadata": {"name": stack},
                                  "items": served(kubeconfig, items)}))  # fmt: skip
    try:
        applied = aiplane(
            "apply", str(bundle), "--yes", "--allow-disruption", kubeconfig=kubeconfig
        )
        assert applied.returncode == 0, applied.stdout + applied.stderr
        by_aiplane = snapshot(kubectl, pulled)
    finally:
        destroy(kubeconfig, stack, tmp_path)
    assert by_kubectl.keys() == by_aiplane.keys()
    for key, obj in by_kubectl.items():
        assert obj == by_aiplane[key], f"{key}:\n{_json_diff(obj, by_aiplane[key])}"


def _json_diff(a: Any, b: Any) -> str:
    import difflib

    lines = [json.dumps(x, indent=1, sort_keys=True).splitlines() for x in (a, b)]
    return "\n".join(difflib.unified_diff(*lines, "kubectl", "aiplane", lineterm="", n=2))


def _artifact(plans_dir: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for f in sorted(plans_dir.iterdir()):
            zf.write(f, f.name)
    return buf.getvalue()


def _action(repo: GitRepo, fake: FakeGitHub, tmp: Path, mode: str, event: dict[str, Any],
            kubeconfig: Path, sha: str, plans: Path) -> subprocess.CompletedProcess[str]:  # fmt: skip
    path = tmp / f"event-{mode}-{len(fake.state.requests)}.json"
    path.write_text(json.dumps(event))
    env = {
        **{
            k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "AIPLANE_", "KUBE"))
        },
        "GITHUB_API_URL": fake.url,
        "GITHUB_REPOSITORY": "acme/infra",
        "GITHUB_TOKEN": fake.state.token,
        "GITHUB_EVENT_PATH": str(path),
        "GITHUB_SHA": sha,
        "AIPLANE_STACKS": "stacks/*.yaml",
        "AIPLANE_WORKDIR": str(repo.root),
        "AIPLANE_PLANS_DIR": str(plans),
        "AIPLANE_KUBECONFIG": kubeconfig.read_text(),
        "AIPLANE_NO_WAIT": "1",
    }
    return subprocess.run([sys.executable, "-m", "aiplane.gitops.action", mode], env=env,
                          capture_output=True, text=True, timeout=300, check=False)  # fmt: skip


@pytest.mark.parametrize("moved_on", [False, True], ids=["applied", "stale-refused"])
def test_live_pr_plan_is_applied_on_merge(
    tmp_path: Path, kubeconfig: Path, kubectl: Any, short_ns: str, moved_on: bool
) -> None:
    repo = GitRepo(tmp_path / "repo")
    repo.write("README.md", "infra\n")
    base = repo.commit("base")
    laptop = (REPO / "stacks/laptop.yaml").read_text()
    repo.write("stacks/ai.yaml", own_stack(laptop, short_ns, short_ns, "laptop", "dev"))
    head = repo.commit("add the ai stack")
    with FakeGitHub() as fake:
        pr = {"number": 5, "base": {"sha": base}, "head": {"sha": head}, "labels": []}
        plans = tmp_path / "plans"
        res = _action(repo, fake, tmp_path, "plan", {"pull_request": pr}, kubeconfig, head, plans)
        assert res.returncode == 0, res.stdout + res.stderr
        body = fake.state.comments[5][0]["body"]
        assert "live cluster" in body and "Deployment" in body
        assert fake.state.check_runs[-1]["conclusion"] == "success"
        index = json.loads((plans / "plans.json").read_text())
        assert [(e["stack_file"], e["exit_code"]) for e in index] == [("stacks/ai.yaml", 2)]

        # what upload-artifact stores; then the merge (fast-forward) and the push event
        fake.state.blobs[77] = _artifact(plans)
        fake.state.artifacts.append({"id": 77, "name": "aiplane-plans-pr5", "expired": False,
                                     "created_at": "2026-12-05T23:00:00Z",
                                     "workflow_run": {"head_sha": head}})  # fmt: skip
        fake.state.pulls_by_commit[head] = [{**pr, "merged_at": "2026-12-05T23:10:00Z"}]
        if moved_on:  # someone created the Service by hand after the plan
            kubectl("create", "service", "clusterip", "qwen-small-production", "-n", short_ns,
                    "--tcp=80:8000")  # fmt: skip
        applied_dir = tmp_path / "applied"
        res = _action(repo, fake, tmp_path, "apply", {"after": head}, kubeconfig, head, applied_dir)
        blob_calls = [r for r in fake.state.requests if r.path.startswith("/blob/")]
        assert blob_calls and all("Authorization" not in r.headers for r in blob_calls)
    deploy = kubectl("get", "deployment", "qwen-small-production", "-n", short_ns, check=False)
    if moved_on:
        assert res.returncode != 0
        assert "plan is stale" in res.stdout + res.stderr
        assert deploy.returncode != 0  # nothing was applied
    else:
        assert res.returncode == 0, res.stdout + res.stderr
        assert deploy.returncode == 0
        live = json.loads(kubectl("get", "deployment", "qwen-small-production", "-n", short_ns,
                                  "-o", "json").stdout)  # fmt: skip
        assert live["metadata"]["labels"]["aiplane.dev/stack"] == short_ns
        destroy(kubeconfig, short_ns, tmp_path)
