"""Credentials from kubeconfig files (TLS, client certificates, tokens) and their failures."""

from __future__ import annotations

import base64
import re
import ssl
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from drafast.errors import ConfigError, PermanentError
from drafast.k8s import ApiRequestError, KubeAPI, KubeSettings
from drafast.testing.fakeapi import FakeAPIServer

NODES = "/api/v1/nodes"


@dataclass(frozen=True)
class PKI:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _ca(d: Path, name: str) -> None:
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", "1", "-subj", f"/CN={name}",
        cwd=d,
    )  # fmt: skip


def _leaf(d: Path, name: str, ext: str) -> None:
    _openssl(
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}",
        cwd=d,
    )  # fmt: skip
    (d / f"{name}.ext").write_text(ext)
    _openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", f"{name}.crt", "-days", "1", "-extfile", f"{name}.ext",
        cwd=d,
    )  # fmt: skip


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> PKI:
    d = tmp_path_factory.mktemp("pki")
    _ca(d, "ca")
    _ca(d, "other")
    _leaf(d, "server", "subjectAltName=IP:127.0.0.1,DNS:apiserver.test\n")
    _leaf(d, "client", "extendedKeyUsage=clientAuth\n")
    return PKI(
        ca=d / "ca.crt",
        server_cert=d / "server.crt",
        server_key=d / "server.key",
        client_cert=d / "client.crt",
        client_key=d / "client.key",
        other_ca=d / "other.crt",
    )


@pytest.fixture
async def tls_server(pki: PKI) -> AsyncIterator[FakeAPIServer]:
    """Serves TLS and requires a client certificate signed by the CA."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=pki.ca)
    ctx.load_cert_chain(pki.server_cert, pki.server_key)
    ctx.verify_mode = ssl.CERT_REQUIRED
    async with FakeAPIServer(ssl_context=ctx) as s:
        s.add(NODES, {"metadata": {"name": "n1"}})
        yield s


def client_cert(pki: PKI) -> dict[str, str]:
    return {"client-certificate": str(pki.client_cert), "client-key": str(pki.client_key)}


async def test_ca_file_and_client_certificate(
    tls_server: FakeAPIServer, pki: PKI, tmp_path: Path
) -> None:
    kc = tls_server.kubeconfig(
        tmp_path / "kc", token=None, cluster={"certificate-authority": str(pki.ca)},
        user=client_cert(pki),
    )  # fmt: skip
    assert tls_server.url.startswith("https://127.0.0.1:")
    async with KubeAPI(KubeSettings(kubeconfig=kc)) as api:
        assert (await api.get(f"{NODES}/n1"))["metadata"]["name"] == "n1"
    assert "Authorization" not in tls_server.requests[0].headers


async def test_inline_ca_data_tls_server_name_and_token(
    tls_server: FakeAPIServer, pki: PKI, tmp_path: Path
) -> None:
    ca_data = base64.b64encode(pki.ca.read_bytes()).decode()
    cluster = {"certificate-authority-data": ca_data, "tls-server-name": "apiserver.test"}
    kc = tls_server.kubeconfig(
        tmp_path / "kc", token="t0k3n", cluster=cluster, user=client_cert(pki)
    )
    async with KubeAPI(KubeSettings(kubeconfig=kc)) as api:
        await api.get(f"{NODES}/n1")
    assert tls_server.requests[0].headers["Authorization"] == "Bearer t0k3n"


async def test_wrong_tls_server_name_is_refused(
    tls_server: FakeAPIServer, pki: PKI, tmp_path: Path
) -> None:
    cluster = {"certificate-authority": str(pki.ca), "tls-server-name": "elsewhere.test"}
    kc = tls_server.kubeconfig(tmp_path / "kc", cluster=cluster, user=client_cert(pki))
    async with KubeAPI(KubeSettings(kubeconfig=kc)) as api:
        with pytest.raises(ApiRequestError, match=r"elsewhere\.test"):
            await api.get(f"{NODES}/n1")


async def test_unknown_ca_fails_at_once_and_permanently(
    tls_server: FakeAPIServer, pki: PKI, tmp_path: Path
) -> None:
    kc = tls_server.kubeconfig(
        tmp_path / "kc", cluster={"certificate-authority": str(pki.other_ca)}, user=client_cert(pki)
    )
    async with KubeAPI(KubeSettings(kubeconfig=kc)) as api:
        with pytest.raises(ApiRequestError) as err:
            await api.get(f"{NODES}/n1")
        assert api.stats.requests == {"get": 1}, "retrying cannot fix a TLS setup"
    assert isinstance(err.value, PermanentError)
    assert err.value.status is None
    assert "certificate verify failed" in str(err.value)
    assert str(err.value).startswith("nodes n1: get failed: no response (")


async def test_insecure_skip_tls_verify(
    tls_server: FakeAPIServer, pki: PKI, tmp_path: Path
) -> None:
    cluster = {"insecure-skip-tls-verify": True}
    kc = tls_server.kubeconfig(tmp_path / "kc", cluster=cluster, user=client_cert(pki))
    async with KubeAPI(KubeSettings(kubeconfig=kc)) as api:
        assert (await api.get(f"{NODES}/n1"))["metadata"]["name"] == "n1"


async def test_missing_kubeconfig_is_a_config_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    async with KubeAPI(KubeSettings(kubeconfig=missing)) as api:
        with pytest.raises(
            ConfigError, match=f"^{re.escape(str(missing))}: cannot load API server credentials"
        ):
            await api.get(f"{NODES}/n1")


async def test_unknown_context_is_a_config_error(tmp_path: Path) -> None:
    server = FakeAPIServer()
    server.url = "http://127.0.0.1:1"
    kc = server.kubeconfig(tmp_path / "kc")
    async with KubeAPI(KubeSettings(kubeconfig=kc, context="nope")) as api:
        with pytest.raises(ConfigError, match="nope"):
            await api.get(f"{NODES}/n1")


async def test_in_cluster_outside_a_pod_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    async with KubeAPI(KubeSettings(kubeconfig=None)) as api:
        with pytest.raises(ConfigError, match=r"^in-cluster service account: cannot load"):
            await api.get(f"{NODES}/n1")


async def test_in_cluster_token_rotation_is_picked_up_after_a_401(
    pki: PKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a pod: host from KUBERNETES_SERVICE_*, CA and token from the service account files."""
    from kubernetes.config import incluster_config

    token = tmp_path / "token"
    token.write_text("one")
    monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(token))
    monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", str(pki.ca))
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(pki.server_cert, pki.server_key)
    async with FakeAPIServer(ssl_context=ctx) as server:
        server.add(NODES, {"metadata": {"name": "n1"}})
        monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
        monkeypatch.setenv("KUBERNETES_SERVICE_PORT", server.url.rsplit(":", 1)[1])
        async with KubeAPI(KubeSettings(kubeconfig=None)) as api:
            await api.get(f"{NODES}/n1")
            token.write_text("two")  # the kubelet rotated the projected token
            server.fail("GET", f"{NODES}/n1", 401, reason="Unauthorized")
            await api.get(f"{NODES}/n1")
    assert [r.headers["Authorization"] for r in server.requests] == [
        "bearer one",
        "bearer one",
        "bearer two",
    ]


async def test_in_cluster_service_account_is_read_without_the_client(
    pki: PKI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plain in-cluster case is read by drafast itself (the official client's import costs
    a plugin ~19 MiB); same header, same rotation after a 401."""
    from drafast.k8s import credentials

    (tmp_path / "token").write_text("one")
    (tmp_path / "ca.crt").write_bytes(pki.ca.read_bytes())
    monkeypatch.setattr(credentials, "SERVICE_ACCOUNT_DIR", tmp_path)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(pki.server_cert, pki.server_key)
    async with FakeAPIServer(ssl_context=ctx) as server:
        server.add(NODES, {"metadata": {"name": "n1"}})
        monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
        monkeypatch.setenv("KUBERNETES_SERVICE_PORT", server.url.rsplit(":", 1)[1])
        creds = credentials.Credentials(None)
        async with KubeAPI(KubeSettings(kubeconfig=None), credentials=creds) as api:
            await api.get(f"{NODES}/n1")
            assert creds._config is None, "the official loader was used"
            (tmp_path / "token").write_text("two")
            server.fail("GET", f"{NODES}/n1", 401, reason="Unauthorized")
            await api.get(f"{NODES}/n1")
    assert [r.headers["Authorization"] for r in server.requests] == [
        "bearer one",
        "bearer one",
        "bearer two",
    ]


@pytest.mark.parametrize(
    ("user", "fast"),
    [
        ({"token": "t"}, True),
        ({"tokenFile": "tok"}, True),
        ({"exec": {"command": "true", "apiVersion": "client.authentication.k8s.io/v1"}}, False),
        ({"username": "u", "password": "p"}, False),
    ],
)
def test_static_kubeconfigs_are_read_without_the_client(
    tmp_path: Path, user: dict[str, object], fast: bool
) -> None:
    from drafast.k8s import credentials

    (tmp_path / "tok").write_text("from-file")
    server = FakeAPIServer()
    server.url = "http://127.0.0.1:1"
    kc = server.kubeconfig(tmp_path / "kc", token=None, user=user)
    creds = credentials.Credentials(kc)
    endpoint = creds.load()
    assert endpoint.host == "http://127.0.0.1:1"
    assert (creds._config is None) is fast
    if "token" in user:
        assert creds.authorization() == "Bearer t"
    elif "tokenFile" in user:
        assert creds.authorization() == "Bearer from-file"
