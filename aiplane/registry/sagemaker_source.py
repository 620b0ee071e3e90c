"""Resolve SageMaker model package references with boto3 (the ``sagemaker`` extra).

* ``arn:...:model-package/GROUP/N``: ``DescribeModelPackage`` of that version.
* ``arn:...:model-package-group/GROUP``: the group's latest *approved* package
  (``ListModelPackages`` filtered on ``Approved``, newest first), then described.

The artifact is the first inference container's ``ModelDataUrl``. A package whose
``ModelPackageStatus`` is not ``Completed`` cannot be served and is an error. Credentials come from
the standard AWS chain (environment, profile, role); ``registry.uri`` overrides the endpoint.
Requests have bounded timeouts and no retries, so an unreachable endpoint fails in seconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from aiplane.providers.resolved import ResolvedVersion, ResolveError, now_iso
from aiplane.registry.sites import Site
from aiplane.stack.models import Registry


class SagemakerSource:
    """Reads one SageMaker registry (one boto3 client per region)."""

    scheme = "arn"

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._clients: dict[str, Any] = {}

    def client(self, region: str) -> Any:
        if region not in self._clients:
            try:
                import boto3
                from botocore.config import Config
            except ImportError:
                raise ResolveError(
                    "SageMaker references need boto3", "pip install 'aiplane[sagemaker]'"
                ) from None
            config = Config(connect_timeout=5, read_timeout=20, retries={"max_attempts": 1})
            self._clients[region] = boto3.client(
                "sagemaker", region_name=region, endpoint_url=self.registry.uri, config=config
            )
        return self._clients[region]

    def _call(self, site: Site, method: str, **kwargs: Any) -> Mapping[str, Any]:
        from botocore.exceptions import BotoCoreError, ClientError

        region = self.registry.region or site.ref.region or "us-east-1"
        try:
            answer: Mapping[str, Any] = getattr(self.client(region), method)(**kwargs)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise ResolveError(
                f"sagemaker {site.ref.model}: {error.get('Code', 'error')}: "
                f"{error.get('Message', '')}".rstrip(": ")
            ) from None
        except BotoCoreError as exc:
            raise ResolveError(f"sagemaker {self.registry.uri or region}: {exc}") from None
        return answer

    def _package_arn(self, site: Site) -> str:
        if site.ref.alias is None:
            return site.version.source
        listed = self._call(
            site,
            "list_model_packages",
            ModelPackageGroupName=site.ref.model,
            ModelApprovalStatus="Approved",
            SortBy="CreationTime",
            SortOrder="Descending",
            MaxResults=1,
        )
        found = listed.get("ModelPackageSummaryList") or []
        if not found:
            raise ResolveError(
                f"sagemaker model package group {site.ref.model} has no approved package",
                "approve a package (UpdateModelPackage ModelApprovalStatus=Approved)",
            )
        return str(found[0]["ModelPackageArn"])

    def resolve_site(self, site: Site) -> ResolvedVersion:
        package = self._call(
            site, "describe_model_package", ModelPackageName=self._package_arn(site)
        )
        version = str(package.get("ModelPackageVersion") or "")
        status = str(package.get("ModelPackageStatus") or "Completed")
        if status != "Completed":
            detail = package.get("ModelPackageStatusDetails") or {}
            raise ResolveError(
                f"sagemaker model package {site.ref.model}/{version} is {status}",
                str(detail) if detail else "only Completed packages can be served",
            )
        containers = (package.get("InferenceSpecification") or {}).get("Containers") or []
        artifact = str(containers[0].get("ModelDataUrl") or "") if containers else ""
        if not artifact:
            raise ResolveError(
                f"sagemaker model package {site.ref.model}/{version} has no ModelDataUrl"
            )
        return ResolvedVersion(
            registry=self.registry.name,
            registry_type="sagemaker",
            reference=site.version.source,
            model=site.ref.model,
            version=version,
            artifact_uri=artifact,
            alias=site.ref.alias,
            status=str(package.get("ModelApprovalStatus") or status),
            created=_iso(package.get("CreationTime")),
            last_updated=_iso(package.get("LastModifiedTime")),
            resolved_at=now_iso(),
        )

    def current(self, site: Site) -> str:
        arn = self._package_arn(site)
        return arn.rsplit("/", 1)[1]

    def close(self) -> None:
        self._clients.clear()


def _iso(moment: Any) -> str | None:
    if not isinstance(moment, datetime):
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
