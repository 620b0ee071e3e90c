"""PKI (openssl) and the admin kubeconfig."""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path

from .config import (
    ClusterError,
)


def _openssl(*args: str) -> None:
    res = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise ClusterError(f"openssl {' '.join(args)} failed:\n{res.stderr}")


def make_pki(pki: Path) -> None:
    """CA, apiserver serving cert, admin client cert (system:masters), service-account keys."""
    if shutil.which("openssl") is None:
        raise ClusterError("`openssl` is required (apt-get install openssl)")
    pki.mkdir(parents=True, exist_ok=True)
    (pki / "ca.cnf").write_text(
        "[req]\nprompt=no\ndistinguished_name=dn\nx509_extensions=v3_ca\n"
        "[dn]\nCN=aiplane-local-ca\n"
        "[v3_ca]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n"
        "subjectKeyIdentifier=hash\n"
    )
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
        "-config", str(pki / "ca.cnf"), "-keyout", str(pki / "ca.key"), "-out", str(pki / "ca.crt"),
    )  # fmt: skip

    def leaf(name: str, subject: str, ext: str) -> None:
        _openssl(
            "req", "-newkey", "rsa:2048", "-nodes", "-subj", subject,
            "-keyout", str(pki / f"{name}.key"), "-out", str(pki / f"{name}.csr"),
        )  # fmt: skip
        (pki / f"{name}.ext").write_text(
            ext + "\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"
            "keyUsage=critical,digitalSignature,keyEncipherment\n"
        )
        _openssl(
            "x509", "-req", "-in", str(pki / f"{name}.csr"), "-CA", str(pki / "ca.crt"),
            "-CAkey", str(pki / "ca.key"), "-CAcreateserial", "-days", "3650",
            "-extfile", str(pki / f"{name}.ext"), "-out", str(pki / f"{name}.crt"),
        )  # fmt: skip

    leaf(
        "apiserver",
        "/CN=kube-apiserver",
        "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,"
        "DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:10.0.0.1\n"
        "extendedKeyUsage=serverAuth",
    )
    leaf("admin", "/O=system:masters/CN=aiplane-admin", "extendedKeyUsage=clientAuth")
    _openssl("genrsa", "-out", str(pki / "sa.key"), "2048")
    _openssl("rsa", "-in", str(pki / "sa.key"), "-pubout", "-out", str(pki / "sa.pub"))


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def write_kubeconfig(path: Path, pki: Path, api_port: int) -> None:
    text = f"""apiVersion: v1
kind: Config
clusters:
- name: aiplane-local
  cluster:
    server: https://127.0.0.1:{api_port}
    certificate-authority-data: {_b64(pki / "ca.crt")}
users:
- name: aiplane-admin
  user:
    client-certificate-data: {_b64(pki / "admin.crt")}
    client-key-data: {_b64(pki / "admin.key")}
contexts:
- name: aiplane-local
  context:
    cluster: aiplane-local
    user: aiplane-admin
current-context: aiplane-local
"""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.chmod(0o600)
    tmp.replace(path)
