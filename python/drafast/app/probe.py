"""``drafast probe [livez|readyz|healthz|metrics]``: ask a running drafast's ops endpoint and exit
0 when it answers 200, else 1 with its answer on stderr.

The exec probe of host-network pods, whose ops endpoint is a Unix socket (see
:func:`~drafast.app.address.parse_bind_address`). It runs every few seconds inside the plugin's
container, so it imports the standard library only and reads the address from the same
``BIND_ADDRESS`` the plugin was given.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from collections.abc import Sequence
from typing import Any

from drafast.app.address import parse_bind_address
from drafast.errors import ConfigError

__all__ = ["ENDPOINTS", "ProbeError", "fetch", "main"]

ENDPOINTS = ("livez", "readyz", "healthz", "metrics")
DEFAULT_ADDRESS = "127.0.0.1:8080"


class ProbeError(Exception):
    """No (well-formed) answer."""


def fetch(address: str, endpoint: str, timeout: float = 5.0) -> tuple[int, bytes]:
    """GET ``/<endpoint>`` of the ops endpoint at ``address`` -> (status, body).

    Plain HTTP/1.0 over a socket: ``http.client`` would double the probe's start time."""
    where = parse_bind_address(address)
    if isinstance(where, str):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        target: Any = where
    else:
        host, port = where
        host = "127.0.0.1" if host in ("0.0.0.0", "") else host
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        target = (host, port)
    with sock:
        sock.settimeout(timeout)
        sock.connect(target)
        sock.sendall(f"GET /{endpoint} HTTP/1.0\r\nHost: localhost\r\n\r\n".encode())
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, sep, body = b"".join(chunks).partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0].split()
    if not sep or len(status) < 2 or not status[0].startswith(b"HTTP/") or not status[1].isdigit():
        raise ProbeError(f"not an HTTP answer: {head[:80]!r}")
    return int(status[1]), body


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="drafast probe",
        description="Ask a running drafast's ops endpoint; exit 0 on HTTP 200, 1 otherwise.",
    )
    p.add_argument("endpoint", nargs="?", default="readyz", choices=ENDPOINTS)
    p.add_argument(
        "--bind-address",
        default=os.environ.get("BIND_ADDRESS") or DEFAULT_ADDRESS,
        help="the plugin's --bind-address (host:port or unix:/path) [BIND_ADDRESS]",
    )
    p.add_argument("--timeout", type=float, default=5.0, help="seconds (default 5)")
    return p


def main(argv: Sequence[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        status, body = fetch(args.bind_address, args.endpoint, args.timeout)
    except ConfigError as err:
        print(f"drafast probe: error: --bind-address {args.bind_address}: {err}", file=sys.stderr)
        return 2
    except (OSError, ProbeError) as err:
        print(f"drafast probe: {args.bind_address}: no answer: {err}", file=sys.stderr)
        return 1
    if status == 200:
        if args.endpoint == "metrics":
            sys.stdout.buffer.write(body)
        return 0
    text = body.decode(errors="replace").strip()
    print(f"drafast probe: /{args.endpoint}: HTTP {status}: {text}", file=sys.stderr)
    return 1
