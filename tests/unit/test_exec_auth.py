"""Exec credential plugins, token files and kubeconfig merging (no cluster; real subprocesses)."""

from __future__ import annotations

import base64
import json
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from aiplane.providers.kubernetes.credentials import RefreshingAuth, TokenFileSource
from aiplane.providers.kubernetes.exec_auth import (
    ExecConfig,
    ExecCredential,
    ExecPluginError,
    ExecProvider,
    exec_config,
)
from aiplane.providers.kubernetes.kubeconfig import load_kubeconfig
from aiplane.providers.kubernetes.kubeconfig_merge import merge

V1 = "client.authentication.k8s.io/v1"
V1BETA1 = "client.authentication.k8s.io/v1beta1"
CA = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"

PLUGIN = """\
import json, os, sys
from pathlib import Path
here = Path(__file__).parent
count = here / "count"
count.write_text(str(int(count.read_text() or 0) + 1) if count.exists() else "1")
(here / "info.json").write_text(os.environ["KUBERNETES_EXEC_INFO"])
(here / "env.json").write_text(json.dumps({"MY_VAR": os.environ.get("MY_VAR")}))
(here / "stdin").write_text(repr(sys.stdin.read() if sys.stdin else None))
mode = (here / "mode").read_text() if (here / "mode").exists() else "token"
if mode == "fail":
    print("first line", file=sys.stderr)
    print("error: token expired; run aws sso login", file=sys.stderr)
    sys.exit(3)
status = {"token": "tok-" + count.read_text(), "expirationTimestamp": "2030-01-01T00:00:00Z"}
if mode == "cert":
    status = {"clientCertificateData": "CERT", "clientKeyData": "KEY"}
api = sys.argv[1]
print(json.dumps({"apiVersion": api, "kind": "ExecCredential", "status": status}))
"""


def plugin(tmp_path: Path, api: str = V1, **extra: Any) -> dict[str, Any]:
    script = tmp_path / "plugin.py"
    script.write_text(PLUGIN)
    section = {"apiVersion": api, "command": sys.executable, "args": [str(script), api],
               "interactiveMode": "IfAvailable", **extra}  # fmt: skip
    return section


def runs(tmp_path: Path) -> int:
    return int((tmp_path / "count").read_text())


def provider(section: dict[str, Any], *, tty: bool = False, now: list[float] | None = None,
             cluster: dict[str, Any] | None = None) -> ExecProvider:  # fmt: skip
    clock = now or [0.0]
    config = exec_config(section, context="eks", cluster=cluster)
    return ExecProvider(config, stdin_isatty=lambda: tty, clock=lambda: clock[0])


def test_token_is_cached_until_expiry_then_the_plugin_runs_again(tmp_path: Path) -> None:
    now = [0.0]
    p = provider(plugin(tmp_path), now=now)
    first = p.credential()
    assert first.token == "tok-1" and first.expires_at == 1893456000.0
    assert p.credential() is first and runs(tmp_path) == 1
    now[0] = 1893456000.0  # expired
    assert p.credential().token == "tok-2" and runs(tmp_path) == 2


def test_exec_info_env_and_stdin_off_a_terminal(tmp_path: Path) -> None:
    section = plugin(tmp_path, env=[{"name": "MY_VAR", "value": "x"}], provideClusterInfo=True)
    cluster = {"server": "https://k", "certificate-authority-data": base64.b64encode(CA).decode(),
               "config": {"region": "eu"}}  # fmt: skip
    provider(section, cluster=cluster).credential()
    info = json.loads((tmp_path / "info.json").read_text())
    assert info == {"apiVersion": V1, "kind": "ExecCredential",
                    "spec": {"interactive": False, "cluster": cluster}}  # fmt: skip
    assert json.loads((tmp_path / "env.json").read_text()) == {"MY_VAR": "x"}
    assert (tmp_path / "stdin").read_text() == "''"  # /dev/null, never the user's stdin


def test_cluster_info_comes_from_the_kubeconfig_with_ca_bytes(tmp_path: Path) -> None:
    (tmp_path / "ca.crt").write_bytes(CA)
    section = plugin(tmp_path, provideClusterInfo=True)
    doc = {"current-context": "eks",
           "clusters": [{"name": "c", "cluster": {
               "server": "https://k:443", "certificate-authority": "ca.crt",
               "tls-server-name": "api.internal", "proxy-url": "http://proxy:3128",
               "extensions": [{"name": "client.authentication.k8s.io/exec",
                               "extension": {"audience": "x"}}]}}],
           "users": [{"name": "u", "user": {"exec": section}}],
           "contexts": [{"name": "eks", "context": {"cluster": "c", "user": "u"}}]}  # fmt: skip
    (tmp_path / "config").write_text(yaml.safe_dump(doc))
    cfg = load_kubeconfig(str(tmp_path / "config"))
    assert isinstance(cfg.exec_config, ExecConfig)
    assert (cfg.proxy_url, cfg.tls_server_name) == ("http://proxy:3128", "api.internal")
    ExecProvider(cfg.exec_config, stdin_isatty=lambda: False).credential()
    spec = json.loads((tmp_path / "info.json").read_text())["spec"]
    assert spec["cluster"] == {
        "server": "https://k:443", "certificate-authority-data": base64.b64encode(CA).decode(),
        "tls-server-name": "api.internal", "proxy-url": "http://proxy:3128",
        "config": {"audience": "x"}}  # fmt: skip


def test_v1beta1_and_client_certificates(tmp_path: Path) -> None:
    (tmp_path / "mode").write_text("cert")
    section = plugin(tmp_path, V1BETA1)
    del section["interactiveMode"]  # optional in v1beta1
    cred = provider(section).credential()
    assert (cred.token, cred.client_cert_pem, cred.client_key_pem) == (None, b"CERT", b"KEY")
    assert cred.expires_at is None


def test_invalid_configs_are_refused_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ExecPluginError, match="interactiveMode is required"):
        exec_config({"apiVersion": V1, "command": "x"}, context="c", cluster=None)
    with pytest.raises(ExecPluginError, match=r"v1alpha1 is not supported.*update the plugin"):
        exec_config({"apiVersion": "client.authentication.k8s.io/v1alpha1", "command": "x"},
                    context="c", cluster=None)  # fmt: skip
    with pytest.raises(ExecPluginError, match="interactiveMode Sometimes"):
        exec_config({"apiVersion": V1, "command": "x", "interactiveMode": "Sometimes"},
                    context="c", cluster=None)  # fmt: skip


def test_missing_plugin_names_context_command_and_install_hint(tmp_path: Path) -> None:
    section = {"apiVersion": V1, "command": "aiplane-no-such-plugin", "interactiveMode": "Never",
               "installHint": "install it with: brew install\\nsomething"}  # fmt: skip
    with pytest.raises(ExecPluginError) as info:
        provider(section).credential()
    assert str(info.value) == (
        "context eks: credential plugin `aiplane-no-such-plugin` was not found "
        "(install it with: brew install\\nsomething)"
    )


def test_failing_plugin_gives_one_line_with_its_last_stderr_line(tmp_path: Path) -> None:
    (tmp_path / "mode").write_text("fail")
    with pytest.raises(ExecPluginError) as info:
        provider(plugin(tmp_path)).credential()
    text = str(info.value)
    assert "\n" not in text and text.startswith("context eks: credential plugin `")
    assert "exited with status 3: error: token expired; run aws sso login" in text
    assert "first line" not in text and "in a terminal to see why" in text


def test_interactive_mode(tmp_path: Path) -> None:
    with pytest.raises(ExecPluginError, match=r"needs a terminal.*run `.*plugin.py"):
        provider(plugin(tmp_path, interactiveMode="Always")).credential()
    assert not (tmp_path / "count").exists()  # refused before running anything
    provider(plugin(tmp_path, interactiveMode="Never"), tty=True).credential()
    assert json.loads((tmp_path / "info.json").read_text())["spec"]["interactive"] is False


def test_bad_plugin_output(tmp_path: Path) -> None:
    script = tmp_path / "p.py"
    script.write_text('print(\'{"kind": "ExecCredential", "apiVersion": "x"}\')')
    section = {"apiVersion": V1, "command": sys.executable, "args": [str(script)],
               "interactiveMode": "Never"}  # fmt: skip
    with pytest.raises(ExecPluginError, match="answered x, but the kubeconfig asks for"):
        provider(section).credential()


def test_a_401_reruns_the_plugin_once_for_all_threads(tmp_path: Path) -> None:
    p = provider(plugin(tmp_path))
    good: set[str] = set()

    def handler(request: httpx.Request) -> httpx.Response:
        ok = request.headers["Authorization"] in good
        return httpx.Response(200 if ok else 401, json={})

    import ssl

    auth = RefreshingAuth(p, ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
    with httpx.Client(transport=httpx.MockTransport(handler), auth=auth) as client:
        good.add("Bearer tok-1")
        assert client.get("https://k/a").status_code == 200
        good.clear()
        good.add("Bearer tok-2")  # tok-1 revoked
        threads = [threading.Thread(target=client.get, args=("https://k/b",)) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert runs(tmp_path) == 2
        good.clear()  # nothing the plugin mints works: one retry, then the 401 stands
        assert client.get("https://k/c").status_code == 401
        assert runs(tmp_path) == 3


def test_token_file_is_reread_after_a_401(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("old\n")
    clock = [0.0]
    source = TokenFileSource(str(token), clock=lambda: clock[0])
    first = source.credential()
    token.write_text("new")
    assert source.credential() is first  # cached
    source.invalidate(first)
    assert source.credential().token == "new"
    token.write_text("newer")
    clock[0] = 61.0  # a minute later it is re-read anyway
    assert source.credential().token == "newer"
    assert source.credential() != ExecCredential(token="old")


def _config(tmp_path: Path, name: str, doc: dict[str, Any]) -> Path:
    path = tmp_path / name / "config"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc))
    return path


def _cluster(name: str, server: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "cluster": {"server": server, **extra}}


def test_kubeconfig_list_merges_like_kubectl(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = _config(tmp_path, "a", {
        "current-context": "one",
        "clusters": [_cluster("c", "https://a", **{"certificate-authority": "ca.crt"})],
        "users": [{"name": "u", "user": {"tokenFile": "tok"}}],
        "contexts": [{"name": "one", "context": {"cluster": "c", "user": "u"}}]})  # fmt: skip
    (a.parent / "ca.crt").write_bytes(CA)
    (a.parent / "tok").write_text("from-a")
    b = _config(tmp_path, "b", {
        "current-context": "two",
        "clusters": [_cluster("c", "https://b"), _cluster("d", "https://d")],
        "users": [{"name": "v", "user": {"exec": {"apiVersion": V1, "command": "bin/plug",
                                                  "interactiveMode": "Never"}}}],
        "contexts": [{"name": "one", "context": {"cluster": "d"}},
                     {"name": "two", "context": {"cluster": "d", "user": "v"}}]})  # fmt: skip
    missing = tmp_path / "missing" / "config"
    monkeypatch.setenv("KUBECONFIG", f"{missing}:{a}:{b}")
    cfg = load_kubeconfig()
    # current-context and context "one" come from a (first wins); paths relative to a's dir
    assert (cfg.context, cfg.server, cfg.token) == ("one", "https://a", "from-a")
    assert cfg.ca_pem == CA.decode() and cfg.token_file == str(a.parent.resolve() / "tok")
    two = load_kubeconfig(context="two")
    assert two.server == "https://d" and two.exec_config is not None
    assert two.exec_config.command == str(b.parent.resolve() / "bin" / "plug")


def test_merge_keeps_the_first_definition_whole() -> None:
    first = {"users": [{"name": "u", "user": {"token": "a"}}]}
    second = {"current-context": "x", "users": [{"name": "u", "user": {"username": "b"}}]}
    merged = merge([first, second])
    assert merged["users"] == [{"name": "u", "user": {"token": "a"}}]
    assert merged["current-context"] == "x"


def test_in_cluster_when_no_kubeconfig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sa = tmp_path / "sa"
    sa.mkdir()
    (sa / "token").write_text("sa-token")
    (sa / "ca.crt").write_bytes(CA)
    (sa / "namespace").write_text("ci")
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    monkeypatch.setenv("AIPLANE_SERVICEACCOUNT_DIR", str(sa))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "fd00::1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    cfg = load_kubeconfig()
    assert (cfg.server, cfg.context, cfg.namespace) == ("https://[fd00::1]:443", "in-cluster", "ci")
    assert cfg.token_file == str(sa / "token") and cfg.ca_pem == CA.decode()
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST")
    with pytest.raises(Exception, match="not found \\(and not running in a pod\\)"):
        load_kubeconfig()
