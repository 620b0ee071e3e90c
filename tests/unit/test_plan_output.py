"""Plan rendering (human, markdown, JSON) and the offline plan (no cluster needed)."""

from __future__ import annotations

import io
import json
from pathlib import Path

from rich.console import Console

from aiplane.commands.cluster import EXIT_BLOCKED, EXIT_CHANGES, EXIT_ERROR, EXIT_OK
from aiplane.commands.plan import plan_main
from aiplane.output.plan import (
    MARKDOWN_LIMIT,
    render_human,
    render_json,
    render_markdown,
    summarize,
)
from aiplane.plan.model import Change, Plan
from aiplane.providers.kubernetes.diff import FieldDiff
from aiplane.providers.kubernetes.objects import ObjectRef
from aiplane.secrets import Scrubber

CANARY = "canary-5ecret-value-7f3a9c"


def plan_of(changes: list[Change]) -> Plan:
    return Plan("seed", "stacks/seed.yaml", "d", "cluster", "context test", "id", "p", "t",
                tuple(changes))  # fmt: skip


def model_changes(name: str, line: int) -> list[Change]:
    subject, source = f"model {name} v2.1 (canary)", f"stacks/seed.yaml#L{line}"
    return [
        Change("create", ObjectRef("apps/v1", "Deployment", "ml", name).address, "new",
               diffs=(FieldDiff("spec.replicas", None, 1),), source=source, subject=subject),
        Change("create", ObjectRef("v1", "Service", "ml", name).address, "new", source=source,
               subject=subject),
    ]  # fmt: skip


def test_summary_speaks_in_stack_terms_with_sources() -> None:
    changes = [
        *model_changes("llama-70b", 42),
        Change("update", ObjectRef("aiplane.dev/v1alpha1", "NodeLabels", "", "a100").address,
               "MIG re-partition (all-1g.10gb -> all-3g.40gb) on 2 node(s)", "node-disruptive",
               source="stacks/seed.yaml#L10", subject="pool a100"),
        Change("update", ObjectRef("apps/v1", "Deployment", "ml", "mistral").address, "1 field(s) change",
               "rolling-restart", (FieldDiff("spec.template.spec.containers[name=vllm].image",
                                             "vllm:0.6", "vllm:0.7"),),
               subject="model mistral", source="stacks/seed.yaml#L60"),
        Change("noop", ObjectRef("v1", "Service", "ml", "quiet").address, subject="model quiet"),
    ]  # fmt: skip
    lines = summarize(plan_of(changes))
    assert [(s.symbol, s.subject, s.text, s.disruption, s.source) for s in lines] == [
        ("+", "model llama-70b v2.1", "new canary (2 objects)", "none", "stacks/seed.yaml#L42"),
        ("~", "pool a100", "MIG re-partition (all-1g.10gb -> all-3g.40gb) on 2 node(s)",
         "node-disruptive", "stacks/seed.yaml#L10"),
        ("~", "model mistral", "image vllm:0.6 -> vllm:0.7", "rolling-restart",
         "stacks/seed.yaml#L60"),
    ]  # fmt: skip


def test_human_output_summary_first_then_diffs_and_scrubbed() -> None:
    scrub = Scrubber()
    scrub.learn([CANARY])
    changes = model_changes("llama", 42)
    changes.append(Change("update", ObjectRef("v1", "ConfigMap", "ml", "cfg").address, "",
                          diffs=(FieldDiff("data.note", "old", f"server said {CANARY}"),),
                          subject="model llama"))  # fmt: skip
    plan = plan_of(changes)
    buf = io.StringIO()
    render_human(plan, plan.gates(allow_disruption=False, allow_delete=False),
                 Console(file=buf, width=200, color_system=None), scrub)  # fmt: skip
    text = buf.getvalue()
    assert text.index("Summary") < text.index("Changes") < text.index("Plan: 2 to create")
    assert "+ spec.replicas: 1" in text
    assert CANARY not in text and "server said ***" in text


def test_markdown_stays_under_the_limit_with_a_notice() -> None:
    changes = []
    for i in range(3000):
        diffs = tuple(FieldDiff(f"data.key{j}", "x" * 30, "y" * 30) for j in range(10))
        changes.append(Change("update", ObjectRef("v1", "ConfigMap", "ml", f"cm-{i}").address,
                              diffs=diffs, subject=f"collection c{i}"))  # fmt: skip
    md = render_markdown(plan_of(changes), [], Scrubber())
    assert len(md) <= MARKDOWN_LIMIT
    assert md.startswith("### aiplane plan: `seed`")
    assert "| Subject |" in md and "more subject(s) not listed" in md
    assert "more object diff(s) not shown" in md
    fewer = render_markdown(plan_of(changes[:100]), [], Scrubber())
    assert len(fewer) <= MARKDOWN_LIMIT and "not listed" not in fewer
    assert fewer.index("| Subject |") < fewer.index("<details>") < fewer.index("**Truncated:**")
    small = render_markdown(plan_of(changes[:3]), [], Scrubber())
    assert "Truncated" not in small and small.count("<details>") == 3


def test_json_output_is_versioned_and_lists_blocks() -> None:
    plan = plan_of([Change("delete", ObjectRef("v1", "Service", "ml", "old").address)])
    doc = json.loads(render_json(plan, plan.gates(allow_disruption=False, allow_delete=False),
                                 Scrubber()))  # fmt: skip
    assert doc["format_version"] == 2
    assert doc["blocked"] == [{"address": {"provider": "kubernetes", "type": "v1/Service",
                                           "scope": "ml", "name": "old"},
                               "flag": "--allow-delete", "message": "deletion"}]  # fmt: skip


# -- offline plans through plan_main (manifest bundles, no cluster) -----------------------------


def obj(kind: str, name: str, *, api: str = "v1", line: int = 1, **body: object) -> dict:  # type: ignore[type-arg]
    return {"apiVersion": api, "kind": kind,
            "metadata": {"name": name, "namespace": "ml",
                         "annotations": {"aiplane.dev/source": f"stacks/t.yaml#L{line}",
                                         "aiplane.dev/subject": f"model {name}"}},
            **body}  # fmt: skip


def write(path: Path, items: list[dict]) -> str:  # type: ignore[type-arg]
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "metadata": {"name": "t"},
                                "items": items}))  # fmt: skip
    return str(path)


def run_plan(file: str, against: str | None, **kw: object) -> int:
    args: dict[str, object] = dict(kubeconfig=None, context=None, output="human", out=None,
                                   detailed_exitcode=True, against=against,
                                   allow_disruption=False, allow_delete=False)  # fmt: skip
    args.update(kw)
    return plan_main(file, **args)  # type: ignore[arg-type]


def test_offline_plans_and_exit_codes(tmp_path: Path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    old_dir = tmp_path / "old"
    old_dir.mkdir()
    old = [obj("ConfigMap", "a", data={"k": "1"}), obj("ConfigMap", "gone", data={})]
    (old_dir / "all.yaml").write_text("\n---\n".join(json.dumps(o) for o in old))
    same = write(tmp_path / "same.json", old)
    changed = write(tmp_path / "new.json", [
        obj("ConfigMap", "a", data={"k": "2"}, line=3),
        obj("Secret", "hf", stringData={"token": CANARY}, line=9),
    ])  # fmt: skip
    assert run_plan(same, str(old_dir)) == EXIT_OK
    assert run_plan(changed, "empty") == EXIT_CHANGES
    assert run_plan(changed, str(old_dir)) == EXIT_BLOCKED  # "gone" would be deleted
    assert run_plan(changed, str(old_dir), allow_delete=True) == EXIT_CHANGES
    assert run_plan(changed, str(old_dir), output="markdown", allow_delete=True) == EXIT_CHANGES
    assert run_plan(changed, str(old_dir), output="json", allow_delete=True) == EXIT_CHANGES
    out = capsys.readouterr()
    text = out.out + out.err
    assert "model a: k 1 -> 2" in text and "(stacks/t.yaml#L3)" in text
    assert "ConfigMap/ml/gone: deletion is blocked; rerun with --allow-delete" in text
    assert CANARY not in text
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    assert run_plan(changed, None) == EXIT_ERROR
    err = capsys.readouterr().err
    assert "no cluster to plan against" in err and "--against" in err


def test_offline_against_a_git_revision(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    import subprocess

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True,
                       env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
                            "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t",
                            "HOME": str(tmp_path)})  # fmt: skip

    stack = tmp_path / "stack.json"
    git("init", "-q")
    write(stack, [obj("ConfigMap", "a", data={"k": "1"})])
    git("add", "stack.json")
    git("commit", "-qm", "one")
    write(stack, [obj("ConfigMap", "a", data={"k": "2"})])
    assert run_plan(str(stack), "HEAD") == EXIT_CHANGES
    assert "k 1 -> 2" in capsys.readouterr().out
    assert run_plan(str(stack), "no-such-ref") == EXIT_ERROR
    assert "--against no-such-ref" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == [".git", "stack.json"]  # no temp left


def test_unreachable_cluster_says_so_and_names_the_offline_mode(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = tmp_path / "kubeconfig"
    config.write_text(json.dumps({
        "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": f"https://127.0.0.1:{port}"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
    }))  # fmt: skip
    file = write(tmp_path / "s.json", [obj("ConfigMap", "a", data={"k": "1"})])
    assert run_plan(file, None, kubeconfig=str(config)) == EXIT_ERROR
    err = capsys.readouterr().err
    assert f"https://127.0.0.1:{port}: cannot reach the API server" in err
    assert "--against" in err


def test_markdown_links_sources_in_github_actions(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    plan = plan_of(model_changes("llama", 42))
    assert "| stacks/seed.yaml#L42 |" in render_markdown(plan, [], Scrubber())
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.com")
    monkeypatch.setenv("GITHUB_REPOSITORY", "org/infra")
    monkeypatch.setenv("GITHUB_SHA", "abc123")
    md = render_markdown(plan, [], Scrubber())
    assert (
        "[stacks/seed.yaml#L42](https://github.com/org/infra/blob/abc123/stacks/seed.yaml#L42)"
        in md
    )
