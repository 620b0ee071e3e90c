"""Plan diffs in stack terms: command lines by flag, multi-line strings by line or key, MIG layouts."""

from __future__ import annotations

import copy
import io
import json
from typing import Any

import yaml
from rich.console import Console

from aiplane.output.plan import diff_lines, render_human, render_json, summarize
from aiplane.plan.model import Change, Plan
from aiplane.providers.kubernetes.applyset import ApplySet
from aiplane.providers.kubernetes.diff import FieldDiff, cmdline_diffs, is_cmdline_diff, mask_diffs
from aiplane.providers.kubernetes.kinds import disruption_of
from aiplane.providers.kubernetes.objects import ObjectRef
from aiplane.providers.kubernetes.offline import offline_plan
from aiplane.secrets import Scrubber

ARGS = "spec.template.spec.containers[name=vllm].args"
SOURCE = "s3://models/llama/v2.1"
BASE_ARGS = [SOURCE, "--host", "0.0.0.0", "--max-num-seqs", "256", "--swap-space", "4",
             "--enable-prefix-caching", "--dtype", "bfloat16"]  # fmt: skip
CANARY = "canary-5ecret-value-7f3a9c"


def deployment(args: list[str]) -> dict[str, Any]:
    container = {"name": "vllm", "image": "vllm/vllm-openai:v0.17.1", "args": args,
                 "command": ["vllm", "serve"]}  # fmt: skip
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "llama-canary", "namespace": "ml",
                     "annotations": {"aiplane.dev/subject": "model llama v2.1"}},
        "spec": {"template": {"spec": {"containers": [container]}}},
    }  # fmt: skip


def mig_entries(profiles: dict[str, int]) -> list[dict[str, Any]]:
    return [
        {"devices": [0], "mig-enabled": True, "mig-devices": profiles},
        {"devices": [1], "mig-enabled": False},
    ]


def mig_configmap(profiles: dict[str, int], other: dict[str, int] | None = None) -> dict[str, Any]:
    configs: dict[str, Any] = {
        "all-disabled": [{"devices": "all", "mig-enabled": False}],
        "seed-a100": mig_entries(profiles),
    }
    if other is not None:
        configs["unused"] = mig_entries(other)
    text = yaml.safe_dump({"version": "v1", "mig-configs": configs}, sort_keys=True)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "aiplane-mig-parted-config", "namespace": "gpu-operator",
                     "annotations": {"aiplane.dev/subject": "gpu pools a100"}},
        "data": {"config.yaml": text},
    }  # fmt: skip


def node_labels(config: str = "seed-a100") -> dict[str, Any]:
    return {
        "apiVersion": "aiplane.dev/v1alpha1",
        "kind": "NodeLabels",
        "metadata": {"name": "a100", "annotations": {"aiplane.dev/subject": "pool a100"}},
        "spec": {"labels": {"nvidia.com/mig.config": config},
                 "nodeSelector": {"pool": "a100"}},
    }  # fmt: skip


def script_configmap(script: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "scripts", "namespace": "ml"},
            "data": {"run.sh": script}}  # fmt: skip


def plan(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> Plan:
    result = offline_plan(after, before, stack="seed", stack_file="stacks/seed.yaml",
                             applyset=ApplySet("seed", "aiplane-system"), target="test")  # fmt: skip
    return result


def change_of(p: Plan, kind: str) -> Change:
    return next(c for c in p.changes if c.address.kind == kind)


def texts(c: Change) -> list[str]:
    return [text for _, text in diff_lines(c)]


def human(p: Plan) -> str:
    buf = io.StringIO()
    render_human(p, p.gates(allow_disruption=False, allow_delete=False),
                 Console(file=buf, width=200, no_color=True), Scrubber())  # fmt: skip
    return buf.getvalue()


# -- command lines ---------------------------------------------------------------------------------


def test_args_are_diffed_as_flags() -> None:
    new = ["s3://models/llama/v2.2", "--host", "0.0.0.0", "--max-num-seqs", "128",
           "--enable-prefix-caching", "--dtype", "bfloat16", "--enable-lora"]  # fmt: skip
    p = plan([deployment(BASE_ARGS)], [deployment(new)])
    dep = change_of(p, "Deployment")
    assert dep.disruption == "rolling-restart"
    # the stored diff is unchanged: one whole-list diff (JSON format compatible)
    assert [d.path for d in dep.diffs] == [ARGS]
    assert texts(dep) == [
        f"~ {ARGS}: model source: s3://models/llama/v2.1 -> s3://models/llama/v2.2",
        f"~ {ARGS}: --max-num-seqs: 256 -> 128",
        f"- {ARGS}: --swap-space 4",
        f"+ {ARGS}: --enable-lora",
    ]
    [line] = summarize(p)
    assert line.subject == "model llama v2.1"
    assert line.text == (
        "model source s3://models/llama/v2.1 -> s3://models/llama/v2.2, "
        "--max-num-seqs 256 -> 128, --swap-space removed and 1 more"
    )


def test_single_flag_summary_and_human_output() -> None:
    new = [a if a != "256" else "128" for a in BASE_ARGS]
    p = plan([deployment(BASE_ARGS)], [deployment(new)])
    [line] = summarize(p)
    assert line.text == "--max-num-seqs 256 -> 128"
    out = human(p)
    assert "~ model llama v2.1: --max-num-seqs 256 -> 128 [rolling-restart]" in out
    assert '["s3://' not in out


def test_flag_parsing_handles_equals_and_repeats() -> None:
    flags = cmdline_diffs(["--a=1", "--b", "x", "--b", "y", "-v"], ["--a=2", "--b", "x", "-v"])
    assert [(f.name, f.before, f.after) for f in flags] == [("--a", "1", "2"), ("--b", "x y", "x")]
    assert not cmdline_diffs(["--a", "-1"], ["--a", "-1"])


def test_other_lists_keep_the_old_form() -> None:
    d = FieldDiff("spec.template.spec.tolerations", ["a"], ["b"])
    assert not is_cmdline_diff(d)
    finalizers = FieldDiff("metadata.finalizers", ["a"], ["b"])
    c = Change("update", ObjectRef("v1", "ConfigMap", "ml", "x").address, diffs=(finalizers,))
    assert texts(c) == ['~ metadata.finalizers: ["a"] -> ["b"]']


# -- multi-line strings ----------------------------------------------------------------------------


def test_multiline_text_shows_a_compact_line_diff() -> None:
    old = "\n".join(f"echo step {i}" for i in range(30)) + "\n"
    new = old.replace("echo step 10\n", "echo step ten\n")
    p = plan([script_configmap(old)], [script_configmap(new)])
    lines = texts(change_of(p, "ConfigMap"))
    assert lines[0] == "~ data.run.sh: 1 line(s) removed, 1 added"
    assert "  -echo step 10" in lines and "  +echo step ten" in lines
    assert "  echo step 0" not in " ".join(lines)  # only context near the change
    assert len(lines) <= 8
    [line] = summarize(p)
    assert line.text == "run.sh: 1 line(s) removed, 1 added"


def test_line_diff_is_capped() -> None:
    old = "\n".join(f"line {i}" for i in range(200))
    new = "\n".join(f"LINE {i}" for i in range(200))
    lines = texts(change_of(plan([script_configmap(old)], [script_configmap(new)]), "ConfigMap"))
    assert len(lines) < 20
    assert lines[-1].strip().startswith("...") and "more line(s)" in lines[-1]


def test_yaml_strings_are_diffed_by_key() -> None:
    before = mig_configmap({"3g.40gb": 1, "2g.20gb": 1, "1g.10gb": 2})
    after = mig_configmap({"3g.40gb": 1, "1g.10gb": 4})
    p = plan([before, node_labels()], [after, node_labels()])
    lines = texts(change_of(p, "ConfigMap"))
    key = "data.config.yaml:mig-configs.seed-a100[0].mig-devices"
    assert lines == [f"~ {key}.1g.10gb: 2 -> 4", f"- {key}.2g.20gb: 1 -> (removed)"]


def test_removed_list_item_in_yaml_is_one_line() -> None:
    def plugin(names: list[str]) -> dict[str, Any]:
        resources = [{"name": n, "replicas": 4} for n in names]
        text = yaml.safe_dump(
            {"version": "v1", "sharing": {"timeSlicing": {"resources": resources}}}
        )
        return {"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "plugin", "namespace": "gpu-operator"},
                "data": {"sharing": text}}  # fmt: skip

    p = plan([plugin(["gpu", "mig-2g"])], [plugin(["gpu"])])
    assert texts(change_of(p, "ConfigMap")) == [
        '- data.sharing:sharing.timeSlicing.resources[name=mig-2g]: {"name":"mig-2g","replicas":4}'
        " -> (removed)"
    ]
    assert summarize(p)[0].text == "sharing: resources[name=mig-2g] removed"


# -- MIG layouts in stack terms --------------------------------------------------------------------


def test_mig_layout_change_is_told_per_pool_and_node_disruptive() -> None:
    before = mig_configmap({"3g.40gb": 1, "2g.20gb": 1, "1g.10gb": 2})
    after = mig_configmap({"3g.40gb": 1, "1g.10gb": 4})
    p = plan([before, node_labels()], [after, node_labels()])
    cm = change_of(p, "ConfigMap")
    assert cm.disruption == "node-disruptive"
    [line] = summarize(p)
    assert (line.subject, line.text, line.disruption) == (
        "pool a100",
        "MIG layout of GPUs [0] changes: 1g.10gb×2 + 2g.20gb×1 + 3g.40gb×1 -> "
        "1g.10gb×4 + 3g.40gb×1",
        "node-disruptive",
    )
    gates = p.gates(allow_disruption=False, allow_delete=False)
    assert [(g.address.kind, g.flag) for g in gates] == [("ConfigMap", "--allow-disruption")]
    assert not p.gates(allow_disruption=True, allow_delete=False)
    assert "pool a100: MIG layout of GPUs [0] changes" in human(p)


def test_unreferenced_mig_config_change_is_in_place() -> None:
    layout = {"3g.40gb": 1, "2g.20gb": 1, "1g.10gb": 2}
    before = mig_configmap(layout, other={"7g.80gb": 1})
    after = mig_configmap(layout, other={"1g.10gb": 7})
    p = plan([before, node_labels()], [after, node_labels()])
    assert change_of(p, "ConfigMap").disruption == "in-place"
    assert not p.gates(allow_disruption=False, allow_delete=False)


def test_disruption_without_references_is_conservative() -> None:
    before = mig_configmap({"7g.80gb": 1})
    after = mig_configmap({"1g.10gb": 7})
    diffs = [FieldDiff("data.config.yaml", before["data"]["config.yaml"],
                       after["data"]["config.yaml"])]  # fmt: skip
    cm = ObjectRef("v1", "ConfigMap", "gpu-operator", "aiplane-mig-parted-config")
    assert disruption_of(cm, "update", diffs) == "node-disruptive"
    assert disruption_of(cm, "update", diffs, {"other"}) == "in-place"


def test_mig_line_keeps_plan_json_compatible() -> None:
    before = mig_configmap({"7g.80gb": 1})
    after = mig_configmap({"1g.10gb": 7})
    p = plan([before, node_labels()], [after, node_labels()])
    doc = json.loads(p.dumps())
    [cm] = [c for c in doc["changes"] if c["address"]["type"] == "v1/ConfigMap"]
    assert [d["path"] for d in cm["diffs"]] == ["data.config.yaml"]
    assert Plan.loads(p.dumps()) == p


# -- Secrets stay masked ---------------------------------------------------------------------------


def test_secret_values_never_show_in_readable_forms() -> None:
    def secret(value: str) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "creds", "namespace": "ml"},
                "stringData": {"config.yaml": value, "token": value.splitlines()[0]}}  # fmt: skip

    old = f"user: admin\npassword: {CANARY}\nhost: db\n"
    new = f"user: admin\npassword: {CANARY}-2\nhost: db\n"
    p = plan([secret(old)], [secret(new)])
    c = change_of(p, "Secret")
    masked = mask_diffs(ObjectRef.of(c.address), c.diffs)
    assert masked == c.diffs
    scrub = Scrubber()
    scrub.learn_secret(secret(old))
    scrub.learn_secret(secret(new))
    out = human(p) + render_json(p, [], scrub) + "\n".join(texts(c))
    assert CANARY not in out and "password" not in out


def test_deployment_args_copy_is_not_mutated() -> None:
    args = list(BASE_ARGS)
    before = deployment(args)
    snapshot = copy.deepcopy(before)
    plan([before], [deployment(args[:3])])
    assert before == snapshot
