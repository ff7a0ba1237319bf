"""Where the API server is and how to authenticate, read by the official client's loaders.

``kubernetes.config`` understands every kubeconfig form (inline or file certificates, tokens,
exec plugins, ``tls-server-name``, proxies) and the in-cluster service account. Its loaders read
files and may run exec plugins, so every method here blocks: call them in a worker thread.
The client itself is imported lazily: it takes ~0.7 s, which offline runs never pay.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drafast.errors import ConfigError


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

    @property
    def source(self) -> str:
        return str(self._kubeconfig) if self._kubeconfig else "in-cluster service account"

    def load(self) -> Endpoint:
        """(Re)load the kubeconfig or in-cluster config. Blocking."""
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
