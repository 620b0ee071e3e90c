"""Registry references: the forms aiplane accepts, the lock file's format and plan-line text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aiplane.errors import AiplaneError
from aiplane.providers.resolved import ResolvedVersion
from aiplane.registry.lockfile import dumps_lock, merge_lock, read_lock, write_lock
from aiplane.stack.model_refs import RefError, RegistryRef, is_registry_source, parse_ref


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("mlflow://llama@production", RegistryRef("mlflow", "llama", alias="production")),
        ("mlflow://llama/7", RegistryRef("mlflow", "llama", version="7")),
        ("models:/llama@champion", RegistryRef("mlflow", "llama", alias="champion")),
        ("models:/team.llama-70b/12", RegistryRef("mlflow", "team.llama-70b", version="12")),
        (
            "arn:aws:sagemaker:us-east-1:123456789012:model-package/llama-group/3",
            RegistryRef("sagemaker", "llama-group", version="3", region="us-east-1"),
        ),
        (
            "arn:aws:sagemaker:eu-west-1:123456789012:model-package-group/llama-group",
            RegistryRef("sagemaker", "llama-group", alias="approved", region="eu-west-1"),
        ),
        (
            "acme/wandb-registry-model/chat-llama:production",
            RegistryRef("wandb", "wandb-registry-model/chat-llama", alias="production"),
        ),
        (
            "wandb-registry-model/chat-llama:v4",
            RegistryRef("wandb", "wandb-registry-model/chat-llama", version="v4"),
        ),
    ],
)
def test_registry_forms_parse(source: str, expected: RegistryRef) -> None:
    assert is_registry_source(source)
    assert parse_ref(source) == expected


@pytest.mark.parametrize("source", ["hf://meta/llama", "s3://b/k", "pvc://c/p", "gs://b/k"])
def test_storage_uris_are_not_references(source: str) -> None:
    assert not is_registry_source(source)
    assert parse_ref(source) is None


@pytest.mark.parametrize(
    "source",
    ["mlflow://a@V12", "mlflow://a/latest", "models:/a/staging", "mlflow://a b/1", "mlflow://@x"],
)
def test_malformed_mlflow_references_are_refused(source: str) -> None:
    with pytest.raises(RefError):
        parse_ref(source)


def entry(version: str, resolved_at: str = "2026-12-01T00:00:00Z") -> ResolvedVersion:
    return ResolvedVersion(
        registry="mlflow",
        registry_type="mlflow",
        reference="mlflow://llama@production",
        model="llama",
        version=version,
        artifact_uri=f"s3://models/llama/{version}",
        alias="production",
        run_id="3f2a91c0d4e5",
        created="2026-11-20T10:02:00Z",
        resolved_at=resolved_at,
    )


def test_lock_text_is_deterministic_and_sorted() -> None:
    other = ResolvedVersion("a", "mlflow", "mlflow://z/1", "z", "1", "s3://z/1")
    one = dumps_lock([entry("7"), other])
    two = dumps_lock([other, entry("7")])
    assert one == two
    refs = [r["reference"] for r in json.loads(one)["references"]]
    assert refs == ["mlflow://z/1", "mlflow://llama@production"]  # registry a before mlflow


def test_lock_round_trips_and_keeps_unmoved_entries(tmp_path: Path) -> None:
    path = tmp_path / "aiplane.lock"
    first = {entry("7").key: entry("7")}
    assert write_lock(path, first)
    assert read_lock(path) == first
    # Same version resolved later: the old entry (and its resolved_at) is kept, nothing written.
    again = merge_lock(read_lock(path), {entry("7").key: entry("7", "2026-12-05T00:00:00Z")})
    assert not write_lock(path, again)
    moved = merge_lock(read_lock(path), {entry("8").key: entry("8")})
    assert write_lock(path, moved)
    assert read_lock(path)[entry("8").key].version == "8"


def test_a_broken_lock_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "aiplane.lock"
    path.write_text('{"lockVersion": 9, "references": []}')
    with pytest.raises(AiplaneError, match="not a valid aiplane lock file"):
        read_lock(path)


def test_missing_lock_is_empty(tmp_path: Path) -> None:
    assert read_lock(tmp_path / "aiplane.lock") == {}
