"""A small GitHub REST client for the action: PR comments, check runs, artifacts.

Standard library only (the action installs nothing else), with the base URL injectable
(``GITHUB_API_URL`` in Actions; a local fake server in the tests). The token is sent to the API
host only: an artifact download redirects to blob storage, which gets no Authorization header.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from aiplane.errors import AiplaneError

PER_PAGE = 100
USER_AGENT = "aiplane-action"


class GitHubError(AiplaneError):
    """The GitHub API answered with an error (the message never contains the token)."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@dataclass(frozen=True)
class GitHub:
    """``repo`` is ``owner/name``; ``api`` the API base URL (no trailing slash)."""

    api: str
    repo: str
    token: str
    timeout: float = 30.0

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """One JSON call; ``path`` is relative to the API root ("/repos/...")."""
        raw, _headers = self._send(method, self.api.rstrip("/") + path, body)
        return json.loads(raw) if raw.strip() else None

    def _send(
        self, method: str, url: str, body: Any = None, *, auth: bool = True
    ) -> tuple[bytes, Mapping[str, str]]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("Accept", "application/vnd.github+json")
        req.add_header("X-GitHub-Api-Version", "2022-11-28")
        req.add_header("User-Agent", USER_AGENT)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if auth and self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            with opener.open(req, timeout=self.timeout) as resp:
                return resp.read(), dict(resp.headers)
        except urllib.error.HTTPError as exc:
            if exc.code in (301, 302, 303, 307, 308) and exc.headers.get("Location"):
                location = urllib.parse.urljoin(url, exc.headers["Location"])
                same_host = (
                    urllib.parse.urlsplit(location).netloc == urllib.parse.urlsplit(self.api).netloc
                )
                return self._send("GET", location, auth=auth and same_host)
            detail = exc.read().decode(errors="replace")[:300]
            raise GitHubError(f"GitHub {method} {_path(url)}: HTTP {exc.code}: {detail}") from exc
        except urllib.error.URLError as exc:
            raise GitHubError(f"GitHub {method} {_path(url)}: {exc.reason}") from exc

    def paginate(self, path: str) -> Iterator[Any]:
        """Every item of a list endpoint, page by page."""
        sep = "&" if "?" in path else "?"
        page = 1
        while True:
            items = self.request("GET", f"{path}{sep}per_page={PER_PAGE}&page={page}")
            if isinstance(items, dict):  # e.g. {"total_count": .., "artifacts": [..]}
                items = next((v for v in items.values() if isinstance(v, list)), [])
            yield from items
            if len(items) < PER_PAGE:
                return
            page += 1

    # --- the calls the action makes -------------------------------------------------------

    def issue_comments(self, number: int) -> list[dict[str, Any]]:
        return list(self.paginate(f"/repos/{self.repo}/issues/{number}/comments"))

    def create_comment(self, number: int, body: str) -> dict[str, Any]:
        out: dict[str, Any] = self.request(
            "POST", f"/repos/{self.repo}/issues/{number}/comments", {"body": body}
        )
        return out

    def update_comment(self, comment_id: int, body: str) -> dict[str, Any]:
        out: dict[str, Any] = self.request(
            "PATCH", f"/repos/{self.repo}/issues/comments/{comment_id}", {"body": body}
        )
        return out

    def create_check_run(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = self.request("POST", f"/repos/{self.repo}/check-runs", payload)
        return out

    def pulls_of_commit(self, sha: str) -> list[dict[str, Any]]:
        return list(self.paginate(f"/repos/{self.repo}/commits/{sha}/pulls"))

    def artifacts_named(self, name: str) -> list[dict[str, Any]]:
        query = urllib.parse.urlencode({"name": name})
        return list(self.paginate(f"/repos/{self.repo}/actions/artifacts?{query}"))

    def download_artifact(self, artifact_id: int) -> bytes:
        url = f"{self.api.rstrip('/')}/repos/{self.repo}/actions/artifacts/{artifact_id}/zip"
        return self._send("GET", url)[0]


def _path(url: str) -> str:
    return urllib.parse.urlsplit(url).path
