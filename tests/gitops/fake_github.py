"""A fake GitHub REST API on 127.0.0.1 that keeps state and records every request.

It serves what the action calls: issue comments (list with pagination, create, edit), check
runs, the pull requests of a commit, artifacts by name and their download (a redirect to a
"blob" URL, as GitHub does, so the test can check the token is not sent there).
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class State:
    token: str = "test-token"
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    check_runs: list[dict[str, Any]] = field(default_factory=list)
    pulls_by_commit: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    blobs: dict[int, bytes] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    next_id: int = 1000


class FakeGitHub:
    """``with FakeGitHub() as gh: gh.url ...``; ``gh.state`` holds what the action did."""

    def __init__(self) -> None:
        self.state = State()
        self.lock = threading.Lock()
        handler = _handler(self)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeGitHub:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def new_id(self) -> int:
        with self.lock:
            self.state.next_id += 1
            return self.state.next_id

    def calls(self, method: str, fragment: str = "") -> list[Recorded]:
        return [r for r in self.state.requests if r.method == method and fragment in r.path]


def _handler(fake: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep the test output clean
            pass

        def _body(self) -> Any:
            size = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(size) if size else b""
            return json.loads(raw) if raw else None

        def _send(self, code: int, value: Any = None, raw: bytes | None = None) -> None:
            data = raw if raw is not None else json.dumps(value).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _handle(self, method: str) -> None:
            url = urllib.parse.urlsplit(self.path)
            query = dict(urllib.parse.parse_qsl(url.query))
            body = self._body()
            fake.state.requests.append(Recorded(method, url.path, dict(self.headers), body))
            parts = url.path.strip("/").split("/")
            if parts[0] == "blob":  # the storage host: no token expected or wanted
                self._send(200, raw=fake.state.blobs[int(parts[1])])
                return
            if self.headers.get("Authorization") != f"Bearer {fake.state.token}":
                self._send(401, {"message": "Bad credentials"})
                return
            self._route(method, parts[3:], query, body)

        def _route(self, method: str, p: list[str], q: dict[str, str], body: Any) -> None:
            st = fake.state
            if p[:1] == ["issues"] and p[2:] == ["comments"] and method == "GET":
                items = st.comments.get(int(p[1]), [])
                per, page = int(q.get("per_page", 30)), int(q.get("page", 1))
                self._send(200, items[(page - 1) * per : page * per])
            elif p[:1] == ["issues"] and p[2:] == ["comments"] and method == "POST":
                comment = {"id": fake.new_id(), "body": body["body"]}
                st.comments.setdefault(int(p[1]), []).append(comment)
                self._send(201, comment)
            elif p[:2] == ["issues", "comments"] and method == "PATCH":
                for items in st.comments.values():
                    for c in items:
                        if c["id"] == int(p[2]):
                            c["body"] = body["body"]
                            self._send(200, c)
                            return
                self._send(404, {"message": "Not Found"})
            elif p == ["check-runs"] and method == "POST":
                st.check_runs.append(body)
                self._send(201, {"id": fake.new_id(), **body})
            elif p[:1] == ["commits"] and p[2:] == ["pulls"]:
                self._send(200, st.pulls_by_commit.get(p[1], []))
            elif p == ["actions", "artifacts"]:
                found = [a for a in st.artifacts if a["name"] == q.get("name")]
                self._send(200, {"total_count": len(found), "artifacts": found})
            elif p[:2] == ["actions", "artifacts"] and p[3:] == ["zip"]:
                self.send_response(302)
                # blob storage is another host, as on GitHub: "localhost" instead of 127.0.0.1
                blob_host = fake.url.replace("127.0.0.1", "localhost")
                self.send_header("Location", f"{blob_host}/blob/{p[2]}")
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                self._send(404, {"message": f"no fake for {method} {'/'.join(p)}"})

        def do_GET(self) -> None:
            self._handle("GET")

        def do_POST(self) -> None:
            self._handle("POST")

        def do_PATCH(self) -> None:
            self._handle("PATCH")

    return Handler
