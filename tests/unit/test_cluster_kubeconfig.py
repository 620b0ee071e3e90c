"""Kubeconfig parsing, expected-drift rules and NodeLabels helpers (no cluster)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml

from aiplane.providers.kubernetes.drift import (
    PRESETS,
    field_owners,
    flatten_fields,
    match_rule,
    rules_for,
)
from aiplane.providers.kubernetes.exec_auth import ExecPluginError
from aiplane.providers.kubernetes.kubeconfig import KubeconfigError, load_kubeconfig
from aiplane.providers.kubernetes.lock import _holder_gone, default_holder
from aiplane.providers.nodelabels import node_diffs, owned_labels, selector_of

NODE_MANAGER = "aiplane-stack-seed"

CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def kubeconfig(tmp_path: Path, user: dict, **extra: object) -> Path:  # type: ignore[type-arg]
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "dev",
        "clusters": [
            {"name": "c1", "cluster": {"server": "https://10.0.0.1:6443/",
                                       "certificate-authority-data":
                                           base64.b64encode(CA.encode()).decode()}},
            {"name": "c2", "cluster": {"server": "https://10.0.0.2", "insecure-skip-tls-verify": True}},
        ],
        "users": [{"name": "u", "user": user}],
        "contexts": [
            {"name": "dev", "context": {"cluster": "c1", "user": "u", "namespace": "ml"}},
            {"name": "prod", "context": {"cluster": "c2", "user": "u"}},
        ],
        **extra,
    }  # fmt: skip
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_current_context_inline_ca_and_token(tmp_path: Path) -> None:
    cfg = load_kubeconfig(str(kubeconfig(tmp_path, {"token": "t0k"})))
    assert (cfg.server, cfg.context, cfg.namespace, cfg.token) == (
        "https://10.0.0.1:6443", "dev", "ml", "t0k")  # fmt: skip
    assert cfg.ca_pem == CA and not cfg.insecure


def test_named_context_token_file_and_insecure(tmp_path: Path) -> None:
    (tmp_path / "tok").write_text("from-file\n")
    cfg = load_kubeconfig(str(kubeconfig(tmp_path, {"tokenFile": "tok"})), "prod")
    assert cfg.token == "from-file" and cfg.insecure and cfg.namespace == "default"
    assert cfg.ssl_context().check_hostname is False


def test_client_certificate_files_are_read(tmp_path: Path) -> None:
    (tmp_path / "c.crt").write_bytes(b"CERT")
    user = {"client-certificate": "c.crt", "client-key-data": base64.b64encode(b"KEY").decode()}
    cfg = load_kubeconfig(str(kubeconfig(tmp_path, user)))
    assert (cfg.client_cert_pem, cfg.client_key_pem) == (b"CERT", b"KEY")


def test_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(KubeconfigError, match="not found"):
        load_kubeconfig(str(tmp_path / "nope"))
    path = kubeconfig(tmp_path, {"exec": {"command": "aws"}})
    with pytest.raises(ExecPluginError, match=r"context dev: .*apiVersion \(missing\)"):
        load_kubeconfig(str(path))
    path = kubeconfig(tmp_path, {"auth-provider": {"name": "oidc"}})
    with pytest.raises(KubeconfigError, match=r"auth-provider.*exec plugin"):
        load_kubeconfig(str(path))
    with pytest.raises(KubeconfigError, match="context 'staging' not found"):
        load_kubeconfig(str(kubeconfig(tmp_path, {"token": "x"})), "staging")


def test_kubeconfig_env_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig(tmp_path, {"token": "x"})))
    assert load_kubeconfig().context == "dev"


# -- expected drift ------------------------------------------------------------------------------

LIVE = {
    "metadata": {
        "managedFields": [
            {"manager": "aiplane", "operation": "Apply",
             "fieldsV1": {"f:spec": {"f:template": {}}}},
            {"manager": "kube-controller-manager", "operation": "Update", "subresource": "scale",
             "fieldsV1": {"f:spec": {"f:replicas": {}}}},
            {"manager": "kubectl-scale", "operation": "Update",
             "fieldsV1": {"f:spec": {"f:minReadySeconds": {}}}},
        ]
    }
}  # fmt: skip


def test_hpa_replicas_is_expected_only_when_an_autoscaler_owns_it() -> None:
    rules = rules_for({"kind": "Deployment", "metadata": {}})
    hit = match_rule(rules, "Deployment", "spec.replicas", LIVE)
    assert hit is not None and hit.owner == "HorizontalPodAutoscaler"
    by_hand = {
        "metadata": {
            "managedFields": [
                {
                    "manager": "kubectl",
                    "operation": "Update",
                    "fieldsV1": {"f:spec": {"f:replicas": {}}},
                }
            ]
        }
    }
    assert match_rule(rules, "Deployment", "spec.replicas", by_hand) is None  # fmt: skip
    assert match_rule(rules, "Deployment", "spec.template.spec", LIVE) is None


def test_user_rules_from_the_annotation() -> None:
    obj = {"kind": "Deployment",
           "metadata": {"annotations": {"aiplane.dev/expected-drift":
                                        "spec.minReadySeconds=rollout-tuner; "
                                        "spec.template.metadata.annotations.*=istio"}}}  # fmt: skip
    rules = rules_for(obj)
    assert len(rules) == len(PRESETS) + 2
    hit = match_rule(rules, "Deployment", "spec.minReadySeconds", LIVE)
    assert hit is not None and hit.owner == "rollout-tuner"
    hit = match_rule(rules, "Deployment", "spec.template.metadata.annotations.sidecar", LIVE)
    assert hit is not None and hit.owner == "istio"


def test_mig_state_label_is_a_preset() -> None:
    rules = rules_for({"kind": "Node", "metadata": {}})
    hit = match_rule(rules, "Node", "metadata.labels.nvidia.com/mig.config.state", {})
    assert hit is not None and hit.owner == "NVIDIA MIG manager"


def test_flatten_fields_and_owners() -> None:
    tree = {"f:spec": {"f:ports": {'k:{"port":80,"protocol":"TCP"}': {".": {}, "f:name": {}}}}}
    assert flatten_fields(tree) == {
        "spec", "spec.ports", "spec.ports[port=80,protocol=TCP]",
        "spec.ports[port=80,protocol=TCP].name",
    }  # fmt: skip
    assert field_owners(LIVE, "spec.replicas") == ["kube-controller-manager"]


# -- node labels and locks -----------------------------------------------------------------------


def test_node_labels_helpers() -> None:
    body = {"spec": {"nodeSelector": {"matchLabels": {"pool": "a100", "b": "1"}}}}
    assert selector_of(body) == "b=1,pool=a100"
    assert selector_of({"spec": {"nodeSelector": {"pool": "a100"}}}) == "pool=a100"
    node = {
        "metadata": {
            "name": "n1",
            "labels": {"nvidia.com/mig.config": "all-1g.10gb", "old": "x"},
            "managedFields": [
                {
                    "manager": NODE_MANAGER,
                    "operation": "Apply",
                    "fieldsV1": {
                        "f:metadata": {"f:labels": {"f:nvidia.com/mig.config": {}, "f:old": {}}}
                    },
                }
            ],
        }
    }
    assert owned_labels(node, NODE_MANAGER) == {"nvidia.com/mig.config", "old"}  # fmt: skip
    diffs = node_diffs(node, {"nvidia.com/mig.config": "all-3g.40gb"}, NODE_MANAGER)
    assert [(d.path, d.before, d.after) for d in diffs] == [
        ("nodes[n1].labels.nvidia.com/mig.config", "all-1g.10gb", "all-3g.40gb"),
        ("nodes[n1].labels.old", "x", None),
    ]


def test_lock_holder_liveness() -> None:
    me = default_holder()
    assert not _holder_gone(me)  # this process runs
    host = me.split("@", 1)[1].rsplit(":", 1)[0]
    assert _holder_gone(f"ci@{host}:999999999")
    assert not _holder_gone("ci@elsewhere:1")
    assert not _holder_gone(f"ci@{host}:999999999 plan abc")  # saved plans keep their lock


def test_pinned_fingerprint_ignores_expected_drift_fields() -> None:
    from aiplane.providers.kubernetes.drift import pinned_fingerprint

    deploy = {"apiVersion": "apps/v1", "kind": "Deployment",
              "metadata": {"name": "d", "labels": {"nvidia.com/mig.config.state": "pending"}},
              "spec": {"replicas": 2, "template": {"spec": {"x": 1}}}}  # fmt: skip
    scaled = {**deploy, "spec": {**deploy["spec"], "replicas": 5}}
    relabelled = {
        **deploy,
        "metadata": {"name": "d", "labels": {"nvidia.com/mig.config.state": "success"}},
    }
    edited = {**deploy, "spec": {**deploy["spec"], "template": {"spec": {"x": 2}}}}
    assert (
        pinned_fingerprint(deploy) == pinned_fingerprint(scaled) == pinned_fingerprint(relabelled)
    )
    assert pinned_fingerprint(deploy) != pinned_fingerprint(edited)
    assert deploy["spec"]["replicas"] == 2  # the input is not modified
