"""The ops endpoint's address (``--bind-address``), parsed without importing anything heavy:
``drafast probe`` runs it inside the plugin's container every few seconds."""

from __future__ import annotations

from drafast.errors import ConfigError

__all__ = ["UNIX_PREFIX", "parse_bind_address"]

UNIX_PREFIX = "unix:"
_SUN_PATH_MAX = 107  # bytes of a Unix socket path, without the terminating NUL


def parse_bind_address(text: str) -> tuple[str, int] | str:
    """``host:port``, ``:port`` (all interfaces), ``[v6]:port`` -> (host, port);
    ``unix:/abs/path`` -> the socket's path (a str: no pathlib, whose import costs the probe).

    A Unix socket suits host-network pods: during a rolling update two pods of one DaemonSet run
    side by side on a node, and a TCP port of the host can serve only one of them."""
    if text.startswith(UNIX_PREFIX):
        path = text.removeprefix(UNIX_PREFIX)
        if not path.startswith("/"):
            raise ConfigError(
                "a unix: address needs an absolute path, e.g. unix:/run/drafast/ops.sock"
            )
        if len(path.encode()) > _SUN_PATH_MAX:
            raise ConfigError(f"the socket path is longer than {_SUN_PATH_MAX} bytes")
        return path
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(
            "expected host:port, :port, [ipv6]:port with a port 0-65535, or unix:/path"
        )
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host or "[" in host or "]" in host:
        raise ConfigError("an IPv6 address must be in brackets: [ipv6]:port")
    return host or "0.0.0.0", int(port)
