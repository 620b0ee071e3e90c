"""A small client for MLflow's Model Registry REST API (``/api/2.0/mlflow/...``), on httpx.

Only the calls aiplane makes: read an alias, a version, its download URI and the registered
model (for its aliases), and set an alias. Every request has bounded connect/read timeouts, so an
unreachable server fails in seconds with one line, never hangs a plan. The token, when there is
one, goes in an ``Authorization: Bearer`` header and never into a message.
"""

from __future__ import annotations

import os
from types import TracebackType
from typing import Any

import httpx

from aiplane.errors import AiplaneError

API = "/api/2.0/mlflow"
CONNECT_TIMEOUT = 5.0


def read_timeout() -> float:
    """Seconds to wait for an answer: ``AIPLANE_REGISTRY_TIMEOUT``, default 20."""
    return float(os.environ.get("AIPLANE_REGISTRY_TIMEOUT", "20"))


class MlflowError(AiplaneError):
    """A registry request failed: ``status`` (0 for no answer), MLflow's ``code`` and message."""

    def __init__(self, message: str, *, status: int = 0, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code

    @property
    def not_found(self) -> bool:
        return self.status == 404 or self.code == "RESOURCE_DOES_NOT_EXIST"


class MlflowClient:
    """Requests to one MLflow tracking server."""

    def __init__(
        self,
        uri: str,
        *,
        token: str | None = None,
        verify: bool | str = True,
        timeout: float | None = None,
    ) -> None:
        self.uri = uri.rstrip("/")
        self.timeout = timeout if timeout is not None else read_timeout()
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(
            base_url=self.uri + API,
            headers=headers,
            verify=verify,
            timeout=httpx.Timeout(self.timeout, connect=min(CONNECT_TIMEOUT, self.timeout)),
            follow_redirects=False,
            trust_env=False,  # a proxy from the environment must not see the registry token
        )

    def __enter__(self) -> MlflowClient:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def alias_version(self, name: str, alias: str) -> dict[str, Any]:
        """The model version ``alias`` points at (``model_version`` of the answer)."""
        answer = self._call("GET", "registered-models/alias", params={"name": name, "alias": alias})
        return dict(answer.get("model_version") or {})

    def model_version(self, name: str, version: str) -> dict[str, Any]:
        answer = self._call("GET", "model-versions/get", params={"name": name, "version": version})
        return dict(answer.get("model_version") or {})

    def download_uri(self, name: str, version: str) -> str:
        """Where the version's artifacts are (``model-versions/get-download-uri``)."""
        answer = self._call(
            "GET", "model-versions/get-download-uri", params={"name": name, "version": version}
        )
        return str(answer.get("artifact_uri") or "")

    def registered_model(self, name: str) -> dict[str, Any]:
        answer = self._call("GET", "registered-models/get", params={"name": name})
        return dict(answer.get("registered_model") or {})

    def aliases(self, name: str) -> dict[str, str]:
        """alias → version of a registered model."""
        model = self.registered_model(name)
        return {str(a["alias"]): str(a["version"]) for a in model.get("aliases") or []}

    def set_alias(self, name: str, alias: str, version: str) -> None:
        self._call(
            "POST",
            "registered-models/alias",
            json={"name": name, "alias": alias, "version": version},
        )

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        where = f"mlflow {self.uri}"
        try:
            response = self._http.request(method, path, params=params, json=json)
        except httpx.TimeoutException:
            raise MlflowError(f"{where}: no answer within {self.timeout:g}s") from None
        except httpx.TransportError as exc:
            raise MlflowError(f"{where}: cannot connect ({_reason(exc)})") from None
        if response.status_code >= 400:
            raise _error(where, response)
        try:
            body = response.json()
        except ValueError:
            raise MlflowError(
                f"{where}: answered {response.status_code} with something that is not JSON "
                "(is this an MLflow tracking server?)",
                status=response.status_code,
            ) from None
        return body if isinstance(body, dict) else {}


def _reason(exc: httpx.TransportError) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:200]


def _error(where: str, response: httpx.Response) -> MlflowError:
    status = response.status_code
    code, message = "", ""
    try:
        body = response.json()
        if isinstance(body, dict):
            code = str(body.get("error_code") or "")
            message = str(body.get("message") or "")
    except ValueError:
        message = response.text.strip().splitlines()[0][:200] if response.text.strip() else ""
    if status in (401, 403) and code == "":
        hint = (
            "the server refused the request; if it names the Host header, start it with "
            "--allowed-hosts including this host, or use the URI it allows"
            if status == 403
            else "check the token (credentials.env)"
        )
        detail = f": {message}" if message else ""
        return MlflowError(f"{where}: HTTP {status}{detail} ({hint})", status=status)
    text = message or response.reason_phrase
    return MlflowError(
        f"{where}: {code or 'HTTP ' + str(status)}: {text}", status=status, code=code
    )
