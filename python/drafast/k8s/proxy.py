"""The proxy for the API server from HTTPS_PROXY / HTTP_PROXY / NO_PROXY, as client-go reads
them (golang.org/x/net/http/httpproxy): upper or lower case, the upper case name first;
NO_PROXY entries are ``*``, host names (also matching their subdomains; a leading dot is
optional), IP addresses, CIDR ranges, each optionally with ``:port``."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from urllib.parse import urlsplit


def _env(environ: Mapping[str, str], name: str) -> str:
    return environ.get(name.upper()) or environ.get(name.lower()) or ""


def env_proxy(url: str, environ: Mapping[str, str]) -> str | None:
    """The proxy URL to reach ``url`` through, or None."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    scheme = parts.scheme
    proxy = _env(environ, f"{scheme}_proxy")
    if not proxy or not host or host == "localhost":
        return None
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        return None
    if _bypassed(host, port, _env(environ, "no_proxy")):
        return None
    try:
        if ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:
        pass
    return proxy


def _bypassed(host: str, port: int, no_proxy: str) -> bool:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    for raw in no_proxy.split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        if "/" in entry:
            try:
                if ip is not None and ip in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                pass
            continue
        name, entry_port = entry, None
        if entry.startswith("[") and "]" in entry:
            name, _, rest = entry[1:].partition("]")
            entry_port = rest[1:] or None
        elif entry.count(":") == 1:
            name, _, entry_port = entry.partition(":")
        if entry_port is not None and entry_port != str(port):
            continue
        try:
            entry_ip = ipaddress.ip_address(name)
        except ValueError:
            entry_ip = None
        if entry_ip is not None:
            if ip == entry_ip:
                return True
            continue
        name = name.lstrip(".")
        if host == name or host.endswith("." + name):
            return True
    return False
