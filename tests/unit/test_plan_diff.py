"""Field diffs, secret masking and the no-request fast path (pure logic, no cluster)."""

from __future__ import annotations

import base64
import copy
import json
import random

from aiplane.providers.kubernetes.diff import FieldDiff, diff_values, mask_diffs
from aiplane.providers.kubernetes.fastpath import (
    compare,
    owned_fields,
    proves_unchanged,
    remove_at,
)
from aiplane.providers.kubernetes.objects import ObjectRef, shown_body, strip_server_fields
from aiplane.secrets import Scrubber, redact_secret_object

SECRET = ObjectRef("v1", "Secret", "ml", "hf")
CANARY = "canary-5ecret-value-7f3a9c"


def paths(diffs: list[FieldDiff] | tuple[FieldDiff, ...]) -> list[str]:
    return [d.path for d in diffs]


def test_scalar_and_nested_changes() -> None:
    before = {"spec": {"replicas": 1, "paused": False}, "metadata": {"labels": {"a": "1"}}}
    after = {"spec": {"replicas": 2}, "metadata": {"labels": {"a": "1", "b": "2"}}}
    diffs = diff_values(before, after)
    assert [(d.path, d.op) for d in diffs] == [
        ("metadata.labels.b", "add"),
        ("spec.paused", "remove"),
        ("spec.replicas", "change"),
    ]


def test_lists_of_named_items_match_by_name() -> None:
    before = {"containers": [{"name": "a", "image": "x:1"}, {"name": "b", "image": "y:1"}]}
    after = {"containers": [{"name": "b", "image": "y:2"}, {"name": "a", "image": "x:1"}]}
    assert paths(diff_values(before, after)) == ["containers[name=b].image"]


def test_scalar_lists_are_one_change() -> None:
    diffs = diff_values({"args": ["--a", "1"]}, {"args": ["--a", "2"]})
    assert diffs == [FieldDiff("args", ["--a", "1"], ["--a", "2"])]


def test_json_in_a_string_is_diffed_inside() -> None:
    old = {"data": {"collection.json": json.dumps({"vectors": {"size": 768}})}}
    new = {"data": {"collection.json": json.dumps({"vectors": {"size": 1024}})}}
    assert diff_values(old, new) == [FieldDiff("data.collection.json:vectors.size", 768, 1024)]


def test_new_object_lists_every_leaf() -> None:
    diffs = diff_values({}, {"spec": {"a": 1, "b": {"c": 2}}})
    assert paths(diffs) == ["spec.a", "spec.b.c"]


def test_secret_values_are_masked_but_changes_still_show() -> None:
    live = {"data": {"token": base64.b64encode(b"old").decode()}, "type": "Opaque"}
    new = {"data": {"token": base64.b64encode(CANARY.encode()).decode(), "extra": "eA=="}}
    diffs = mask_diffs(SECRET, diff_values(live, new))
    shown = json.dumps([d.to_json() for d in diffs])
    assert CANARY not in shown and base64.b64encode(CANARY.encode()).decode() not in shown
    by_path = {d.path: d for d in diffs}
    assert by_path["data.token"].before == "*** (before)"
    assert by_path["data.token"].after == "*** (after)"
    assert by_path["data.extra"].op == "add"
    assert by_path["type"].op == "remove"  # non-secret fields still shown


def test_secret_create_is_masked() -> None:
    body = {"stringData": {"token": CANARY}, "type": "Opaque"}
    diffs = mask_diffs(SECRET, diff_values({}, body))
    assert CANARY not in json.dumps([d.to_json() for d in diffs])
    assert redact_secret_object({"kind": "Secret", **body})["stringData"] == {"token": "***"}


def test_scrubber_removes_raw_and_base64_values() -> None:
    scrub = Scrubber()
    scrub.learn_secret({"stringData": {"token": CANARY}})
    scrub.learn_secret({"data": {"k": base64.b64encode(b"another-secret").decode()}})
    text = f"x {CANARY} y {base64.b64encode(CANARY.encode()).decode()} z another-secret"
    assert scrub(text) == "x *** y *** z ***"
    assert Scrubber()("unchanged") == "unchanged"


def test_strip_and_shown_body() -> None:
    live = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c", "namespace": "n", "resourceVersion": "5", "uid": "u",
                     "managedFields": [], "creationTimestamp": "t", "generation": 2,
                     "labels": {"aiplane.dev/stack": "s", "team": "a"}},
        "status": {"x": 1},
        "data": {"a": "b"},
    }  # fmt: skip
    stripped = strip_server_fields(live)
    assert "status" not in stripped
    assert set(stripped["metadata"]) == {"name", "namespace", "labels"}
    assert shown_body(stripped) == {"data": {"a": "b"}, "metadata": {"labels": {"team": "a"}}}


# -- fast path ---------------------------------------------------------------------------------

DESIRED = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "m", "namespace": "ml", "labels": {"app": "m"}},
    "spec": {
        "replicas": 1,
        "paused": False,
        "selector": {"matchLabels": {"app": "m"}},
        "template": {
            "spec": {
                "containers": [{"name": "vllm", "image": "v:1", "ports": [{"containerPort": 8000}]}]
            }
        },
    },
}
OWNED = {
    "f:metadata": {"f:labels": {"f:app": {}}},
    "f:spec": {
        "f:replicas": {},
        "f:paused": {},
        "f:selector": {},
        "f:template": {
            "f:spec": {
                "f:containers": {
                    'k:{"name":"vllm"}': {
                        ".": {},
                        "f:name": {},
                        "f:image": {},
                        "f:ports": {
                            'k:{"containerPort":8000,"protocol":"TCP"}': {
                                ".": {},
                                "f:containerPort": {},
                            }
                        },
                    }
                }
            }
        },
    },
}


def live_of(desired: dict, owned: dict = OWNED) -> dict:  # type: ignore[type-arg]
    live = copy.deepcopy(desired)
    live["spec"].pop("paused")  # omitempty false
    port = live["spec"]["template"]["spec"]["containers"][0]["ports"][0]
    port["protocol"] = "TCP"  # defaulted key field
    live["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = "IfNotPresent"
    live["metadata"].update(resourceVersion="7", managedFields=[
        {"manager": "aiplane", "operation": "Apply", "apiVersion": "apps/v1",
         "fieldsV1": owned},
        {"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "apps/v1",
         "fieldsV1": {"f:spec": {"f:replicas": {}}}, "subresource": "scale"},
    ])  # fmt: skip
    return live


def test_fast_path_proves_no_change() -> None:
    live = live_of(DESIRED)
    owned = owned_fields(live, "aiplane", "apps/v1")
    result = compare(DESIRED, live, owned)
    assert result.exact and not result.mismatches


def test_fast_path_needs_same_api_version_entry() -> None:
    assert owned_fields(live_of(DESIRED), "aiplane", "apps/v1beta2") is None
    assert owned_fields(live_of(DESIRED), "someone", "apps/v1") is None


def test_fast_path_reports_value_changes() -> None:
    live = live_of(DESIRED)
    live["spec"]["template"]["spec"]["containers"][0]["image"] = "v:hand"
    result = compare(DESIRED, live, owned_fields(live, "aiplane", "apps/v1"))
    assert not result.exact
    assert [(m.path, m.desired, m.live) for m in result.mismatches] == [
        ("spec.template.spec.containers[name=vllm].image", "v:1", "v:hand")
    ]


def test_fast_path_notices_a_field_that_would_be_released() -> None:
    owned = copy.deepcopy(OWNED)
    owned["f:spec"]["f:minReadySeconds"] = {}  # aiplane set it before; the stack dropped it
    live = live_of(DESIRED, owned)
    result = compare(DESIRED, live, owned_fields(live, "aiplane", "apps/v1"))
    assert not result.exact and not result.mismatches


def test_fast_path_atomic_selector_and_list_item_removal() -> None:
    live = live_of(DESIRED)
    desired = copy.deepcopy(DESIRED)
    desired["spec"]["selector"] = {"matchLabels": {"app": "other"}}
    result = compare(desired, live, owned_fields(live, "aiplane", "apps/v1"))
    assert [m.path for m in result.mismatches] == ["spec.selector"]
    desired = copy.deepcopy(DESIRED)
    desired["spec"]["template"]["spec"]["containers"] = []
    assert not compare(desired, live, owned_fields(live, "aiplane", "apps/v1")).exact


def test_fast_path_without_ownership_is_never_exact() -> None:
    assert not compare(DESIRED, live_of(DESIRED), None).exact


def test_fast_path_secret_string_data_matches_live_data() -> None:
    desired = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
               "stringData": {"token": CANARY}}  # fmt: skip
    owned = {"f:stringData": {"f:token": {}}}
    live = {
        "metadata": {"name": "s"},
        "data": {"token": base64.b64encode(CANARY.encode()).decode()},
    }
    assert compare(desired, live, owned).exact
    live["data"]["token"] = base64.b64encode(b"rotated").decode()
    assert not compare(desired, live, owned).exact


def test_remove_at_drops_one_field() -> None:
    body = copy.deepcopy(DESIRED)
    remove_at(body, ("spec", "replicas"))
    remove_at(body, ("spec", "missing", "deeper"))
    assert "replicas" not in body["spec"] and "replicas" in DESIRED["spec"]


def test_nothing_derived_from_a_secret_value_is_pinned() -> None:
    from aiplane.providers.kubernetes.objects import desired_digest, live_fingerprint

    def secret(value: str) -> dict:  # type: ignore[type-arg]
        return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
                "stringData": {"token": value}}  # fmt: skip

    assert desired_digest(secret(CANARY)) == desired_digest(secret("other"))
    assert desired_digest(secret(CANARY)) != desired_digest({**secret(CANARY), "type": "x"})
    assert live_fingerprint(secret(CANARY)) is None
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}}
    assert live_fingerprint(cm) == live_fingerprint({**cm, "status": {}})


def test_health_checks_per_kind() -> None:
    import pytest

    from aiplane.errors import AiplaneError
    from aiplane.providers.kubernetes.health import CHECKS

    deploy = {"metadata": {"generation": 2}, "spec": {"replicas": 2},
              "status": {"observedGeneration": 2, "updatedReplicas": 2, "readyReplicas": 1,
                         "replicas": 2}}  # fmt: skip
    assert CHECKS["Deployment"](deploy) == (False, "1/2 ready, 2 updated")
    deploy["status"]["readyReplicas"] = 2
    assert CHECKS["Deployment"](deploy)[0]
    deploy["metadata"]["generation"] = 3
    assert not CHECKS["Deployment"](deploy)[0]
    assert CHECKS["ClusterPolicy"]({"status": {"state": "ready"}})[0]
    assert CHECKS["ClusterPolicy"]({"status": {"state": "notReady"}}) == (False, "state notReady")
    crd = {"status": {"conditions": [{"type": "Established", "status": "True"}]}}
    assert CHECKS["CustomResourceDefinition"](crd)[0]
    node = {"metadata": {"name": "n", "labels": {"nvidia.com/mig.config.state": "pending"}}}
    assert not CHECKS["Node"](node)[0]
    node["metadata"]["labels"]["nvidia.com/mig.config.state"] = "failed"
    with pytest.raises(AiplaneError, match="MIG re-partition failed"):
        CHECKS["Node"](node)
    assert CHECKS["Node"]({"metadata": {"name": "n", "labels": {}}})[0]


def _variants(value: object, rng: random.Random) -> object:
    """``value`` with one random edit somewhere: a changed leaf, a dropped or added key, a
    reordered or shortened list."""
    if isinstance(value, dict) and value:
        out = dict(value)
        key = rng.choice(sorted(out))
        roll = rng.random()
        if roll < 0.15:
            del out[key]
        elif roll < 0.25:
            out["extra"] = "added"
        else:
            out[key] = _variants(out[key], rng)
        return out
    if isinstance(value, list) and value:
        out_list = list(value)
        roll = rng.random()
        if roll < 0.2:
            return out_list[::-1] if len(out_list) > 1 else []
        i = rng.randrange(len(out_list))
        out_list[i] = _variants(out_list[i], rng)
        return out_list
    return rng.choice([value, value, "x", 0, 0.0, False, True, "", 1, 1.0, None, {}, [value]])


def _owned_variant(owned: dict, rng: random.Random) -> dict:  # type: ignore[type-arg]
    """A fieldsV1 tree (maps all the way down) with one key dropped, added or emptied."""
    if not owned:
        return {"f:extra": {}}
    out = dict(owned)
    key = rng.choice(sorted(out))
    roll = rng.random()
    if roll < 0.2:
        del out[key]
    elif roll < 0.3:
        out["f:extra"] = {}
    elif roll < 0.4:
        out[key] = {}
    else:
        out[key] = _owned_variant(out[key], rng)
    return out


def test_proves_unchanged_agrees_with_the_full_walk() -> None:
    """The plan's quick no-change proof is exactly ``compare(...).exact`` (and ``compare`` is
    the walk the tests above pin down), over many random edits of desired, live and owned."""
    rng = random.Random(16)
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
              "stringData": {"token": "t"}}  # fmt: skip
    secret_live = {"metadata": {"name": "s"}, "data": {"token": "dA=="}}
    values = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
              "spec": {"finalizers": ["a", "b"]}}  # fmt: skip
    values_owned = {"f:spec": {"f:finalizers": {'v:"a"': {}, 'v:"b"': {}, ".": {}}}}
    cases = [
        (DESIRED, live_of(DESIRED), OWNED),
        (secret, secret_live, {"f:stringData": {"f:token": {}}}),
        (values, copy.deepcopy(values), values_owned),
    ]
    agreed_exact = agreed_not = 0
    for desired, live, owned in cases:
        for _ in range(700):
            d, lv, ow = desired, live, owned
            for _edit in range(rng.randrange(3)):
                which = rng.randrange(3)
                if which == 0:
                    d = _variants(d, rng)  # type: ignore[assignment]
                elif which == 1:
                    lv = _variants(lv, rng)  # type: ignore[assignment]
                else:
                    ow = _owned_variant(ow, rng)
            if not isinstance(d, dict) or not isinstance(lv, dict):
                continue
            exact = compare(d, lv, ow).exact
            assert proves_unchanged(d, lv, ow) == exact, (d, lv, ow)
            agreed_exact += exact
            agreed_not += not exact
    assert agreed_exact > 100 and agreed_not > 100  # both outcomes were exercised
    # zero values the server leaves out prove nothing when their type differs (0.0 is no bool)
    live = live_of(DESIRED)
    for paused, exact in ((False, True), ("", True), (0.0, False)):
        desired = copy.deepcopy(DESIRED)
        desired["spec"]["paused"] = paused
        assert compare(desired, live, OWNED).exact is exact
        assert proves_unchanged(desired, live, OWNED) is exact
