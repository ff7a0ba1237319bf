"""Where the API server is and how to authenticate, read by the official client's loaders.

``kubernetes.config`` understands every kubeconfig form (inline or file certificates, tokens,
exec plugins, auth providers, ``tls-server-name``, proxies, merged KUBECONFIG lists) and the
in-cluster service account. Its loaders read files and may run exec plugins, so every method
here blocks: call them in a worker thread.

Importing that client costs ~0.5 s of CPU and ~19 MiB of memory (it loads every generated
model), which a kubelet plugin would pay for two static strings. So the two forms a plugin
meets -- the in-cluster service account and a single kubeconfig file whose user has a static
token or client certificate -- are read here, with the official loaders' rules (data wins over
file, paths relative to the kubeconfig, ``Bearer``/``bearer`` prefixes, the token file re-read
on refresh). Anything else (exec plugins, auth providers, basic auth, merged files, and every
error) goes to the official loaders, so their behaviour and messages stay the reference.
"""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drafast.errors import ConfigError

SERVICE_HOST_ENV = "KUBERNETES_SERVICE_HOST"
SERVICE_PORT_ENV = "KUBERNETES_SERVICE_PORT"
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


@dataclass(frozen=True, slots=True)
class Endpoint:
    """The API server's base URL and the TLS setup to reach it."""

    host: str
    """Base URL without trailing slash; may carry a path prefix (API proxies)."""
    ssl: ssl.SSLContext | None
    """None for plain ``http://`` (tests)."""
    server_hostname: str | None
    """``tls-server-name``: the name to verify when it differs from the URL's host."""
    proxy: str | None


class Credentials:
    """Loads the endpoint once and hands out the current ``Authorization`` header value."""

    def __init__(self, kubeconfig: Path | None, context: str | None = None) -> None:
        self._kubeconfig = kubeconfig
        self._context = context
        self._config: Any = None
        self._token: Callable[[], str | None] | None = None  # set by the fast path

    @property
    def source(self) -> str:
        return str(self._kubeconfig) if self._kubeconfig else "in-cluster service account"

    def load(self) -> Endpoint:
        """(Re)load the kubeconfig or in-cluster config. Blocking."""
        fast = (
            _in_cluster()
            if self._kubeconfig is None
            else _static_kubeconfig(self._kubeconfig, self._context)
        )
        if fast is not None:
            self._config = None
            endpoint, self._token = fast
            return endpoint
        self._token = None
        return self._load_with_client()

    def _load_with_client(self) -> Endpoint:
        from kubernetes import client, config

        cfg = client.Configuration()
        try:
            if self._kubeconfig is None:
                config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
            else:
                config.load_kube_config(  # type: ignore[no-untyped-call]
                    config_file=str(self._kubeconfig),
                    context=self._context,
                    client_configuration=cfg,
                    persist_config=False,
                )
            endpoint = Endpoint(
                host=str(cfg.host).rstrip("/"),
                ssl=_ssl_context(cfg) if str(cfg.host).startswith("https:") else None,
                server_hostname=cfg.tls_server_name or None,
                proxy=cfg.proxy or None,
            )
        except (config.ConfigException, OSError, ssl.SSLError, ValueError, KeyError) as err:
            raise ConfigError(f"{self.source}: cannot load API server credentials: {err}") from err
        self._config = cfg
        return endpoint

    def authorization(self) -> str | None:
        """The ``Authorization`` header value (None: client certificates only). Blocking: runs
        the loader's refresh hook, which re-reads a rotated token file or re-runs an exec
        plugin whose token expired."""
        if self._token is not None:
            return self._token()
        if self._config is None:
            raise RuntimeError("Credentials.load() was not called")
        key = self._config.get_api_key_with_prefix("BearerToken", alias="authorization")
        return str(key) if key else None


def _ssl_context(cfg: Any) -> ssl.SSLContext:
    ctx = ssl.create_default_context(
        cafile=cfg.ssl_ca_cert or None, cadata=getattr(cfg, "ca_cert_data", None) or None
    )
    if cfg.cert_file:
        ctx.load_cert_chain(cfg.cert_file, cfg.key_file or None)
    if not cfg.verify_ssl:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    elif cfg.assert_hostname is False:
        ctx.check_hostname = False
    return ctx


# --------------------------------------------------------------------------- the fast path
# Each returns None when the case is not a plain one (or anything is amiss): the official
# loader then decides, and names the problem in its own words.

_Fast = tuple[Endpoint, Callable[[], str | None]]


def _in_cluster() -> _Fast | None:
    host, port = os.environ.get(SERVICE_HOST_ENV), os.environ.get(SERVICE_PORT_ENV)
    token_file, ca_file = SERVICE_ACCOUNT_DIR / "token", SERVICE_ACCOUNT_DIR / "ca.crt"
    if not host or not port or not token_file.is_file() or not ca_file.is_file():
        return None

    def token() -> str | None:
        # Re-read on every refresh (the kubelet rotates the projected token); the official
        # loader re-reads it once a minute, the API client asks every credentials refresh.
        content = token_file.read_text()
        if not content:
            raise ConfigError(f"{token_file}: token file exists but empty")
        return "bearer " + content

    try:
        token()
        if not ca_file.read_text():
            return None
        ctx = ssl.create_default_context(cafile=str(ca_file))
    except (OSError, ssl.SSLError, ConfigError, ValueError):
        return None
    joined = f"[{host}]:{port}" if ":" in host or "%" in host else f"{host}:{port}"
    return Endpoint(host=f"https://{joined}", ssl=ctx, server_hostname=None, proxy=None), token


def _static_kubeconfig(path: Path, context: str | None) -> _Fast | None:
    import yaml  # the C loader when built: a kubeconfig parses in well under 1 ms

    if os.pathsep in str(path):
        return None  # a merged list: the official merger's rules
    try:
        file = Path(path).expanduser()
        doc = yaml.load(file.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        ctx = _named(doc, "contexts", context or doc["current-context"])["context"]
        cluster = _named(doc, "clusters", ctx["cluster"])["cluster"]
        user: dict[str, Any] = {}
        if ctx.get("user") and doc.get("users"):
            user = (_named(doc, "users", ctx["user"]) or {}).get("user") or {}
        return _static_endpoint(file.absolute().parent, cluster, user)
    except (OSError, ValueError, TypeError, KeyError, AttributeError, ssl.SSLError, yaml.YAMLError):
        return None


def _named(doc: dict[str, Any], key: str, name: str) -> dict[str, Any]:
    for item in doc[key]:
        if item["name"] == name:
            return dict(item)
    raise KeyError(name)


def _static_endpoint(base: Path, cluster: dict[str, Any], user: dict[str, Any]) -> _Fast | None:
    if set(user) - {"token", "tokenFile", *_CERT_KEYS} or set(cluster) - _CLUSTER_KEYS:
        return None  # exec, auth-provider, basic auth, or a field we do not know
    server = str(cluster["server"]).rstrip("/")
    token = user.get("token") or None
    if token is None and user.get("tokenFile"):
        token = (base / user["tokenFile"]).read_text() or None
    header = f"Bearer {token}" if token else None
    ctx = None
    if server.startswith("https"):
        ctx = _tls(base, cluster, user)
    elif not server.startswith("http:"):
        return None
    endpoint = Endpoint(
        host=server,
        ssl=ctx,
        server_hostname=cluster.get("tls-server-name") or None,
        proxy=cluster.get("proxy-url") or None,
    )
    return endpoint, lambda: header


_CERT_KEYS = {"client-certificate", "client-certificate-data", "client-key", "client-key-data"}
_CLUSTER_KEYS = {
    "server",
    "certificate-authority",
    "certificate-authority-data",
    "insecure-skip-tls-verify",
    "tls-server-name",
    "proxy-url",
    "extensions",
}


def _tls(base: Path, cluster: dict[str, Any], user: dict[str, Any]) -> ssl.SSLContext:
    """``_ssl_context`` for the fields of a kubeconfig (data wins over file, as officially)."""
    ca_data = cluster.get("certificate-authority-data")
    ca_file = cluster.get("certificate-authority")
    ctx = ssl.create_default_context(
        cafile=None if ca_data or not ca_file else str(base / ca_file),
        cadata=base64.standard_b64decode(ca_data).decode() if ca_data else None,
    )
    cert = _pem(base, user, "client-certificate")
    if cert is not None:
        key = _pem(base, user, "client-key")
        # load_cert_chain reads files: inline data goes through a private temp file, removed
        # at once (the context keeps what it loaded).
        with tempfile.TemporaryDirectory(prefix="drafast-kc-") as tmp:
            cert_path, key_path = Path(tmp) / "crt", Path(tmp) / "key"
            cert_path.write_bytes(cert)
            if key is not None:
                key_path.write_bytes(key)
            ctx.load_cert_chain(str(cert_path), str(key_path) if key is not None else None)
    if cluster.get("insecure-skip-tls-verify"):
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _pem(base: Path, user: dict[str, Any], key: str) -> bytes | None:
    data = user.get(f"{key}-data")
    if data:
        return base64.standard_b64decode(data)
    if user.get(key):
        return (base / str(user[key])).read_bytes()
    return None
