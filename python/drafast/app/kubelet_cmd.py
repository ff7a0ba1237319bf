"""``drafast kubelet ...``: play the kubelet against a running plugin over its real sockets."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from drafast.config import KUBELET_REGISTRY_DIR
from drafast.errors import ConfigError

if TYPE_CHECKING:
    # Imported where a command runs: ``build_parser`` imports this module for every command,
    # and a plugin (``drafast run``) needs neither the client nor orjson nor claim types.
    from drafast.kubelet.client import KubeletClient
    from drafast.types import ClaimRef


def add_kubelet_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], *, verbs_too: bool = True
) -> None:
    """``drafast kubelet``; without ``verbs_too`` just its name and help, for a parser that only
    parses ``drafast run`` (building the verbs' options is a plugin's start time)."""
    p = sub.add_parser("kubelet", help="a kubelet stand-in: register, prepare, unprepare, health")
    if not verbs_too:
        return
    verbs = p.add_subparsers(dest="verb", required=True)
    for verb, doc in (
        ("register", "GetInfo + NotifyRegistrationStatus, as the kubelet's plugin watcher does"),
        ("prepare", "NodePrepareResources for the given claims"),
        ("unprepare", "NodeUnprepareResources for the given claims"),
        ("health", "print NodeWatchResources messages"),
    ):
        v = verbs.add_parser(verb, help=doc)
        v.add_argument(
            "--registration-socket",
            type=Path,
            help="the plugin's registration socket (or give --driver)",
        )
        v.add_argument("--driver", help="driver name: use <registry-dir>/<driver>-reg.sock")
        v.add_argument("--registry-dir", type=Path, default=KUBELET_REGISTRY_DIR)
        v.add_argument("--dra-socket", type=Path, help="skip registration; call this DRA socket")
        if verb in ("prepare", "unprepare"):
            v.add_argument("claims", nargs="+", metavar="NAMESPACE/NAME/UID")
            v.add_argument("--version", choices=["v1", "v1beta1"], help="default: as registered")
        if verb == "health":
            v.add_argument("--version", choices=["v1", "v1alpha1"], default="v1")
            v.add_argument("--count", type=int, default=1, help="messages to print, then stop")


def parse_claim(text: str) -> ClaimRef:
    from drafast.types import ClaimRef, ClaimUID

    parts = text.split("/")
    if len(parts) != 3 or not all(parts):
        raise ConfigError(f"claim {text!r}: expected NAMESPACE/NAME/UID")
    return ClaimRef(namespace=parts[0], name=parts[1], uid=ClaimUID(parts[2]))


def _json(value: Any) -> str:
    import orjson

    def default(o: Any) -> Any:
        if dataclasses.is_dataclass(o) and not isinstance(o, type):
            return dataclasses.asdict(o)
        if isinstance(o, Path):
            return str(o)
        raise TypeError

    return orjson.dumps(value, default=default, option=orjson.OPT_INDENT_2).decode()


def _client(args: argparse.Namespace) -> KubeletClient:
    from drafast.kubelet.client import KubeletClient

    reg = args.registration_socket
    if reg is None and args.driver:
        reg = args.registry_dir / f"{args.driver}-reg.sock"
    if reg is None and args.dra_socket is None:
        raise ConfigError("give --registration-socket, --driver or --dra-socket")
    if args.dra_socket is not None:
        _check_socket("DRA socket", args.dra_socket)
    else:
        _check_socket("registration socket", reg)
    return KubeletClient(registration_socket=reg, dra_socket=args.dra_socket)


def _check_socket(what: str, path: Path) -> None:
    """Name the socket when there is none (gRPC would only say DEADLINE_EXCEEDED or
    UNAVAILABLE after its retries)."""
    if not path.is_socket():
        state = "is not a socket" if path.exists() else "does not exist"
        raise ConfigError(f"{what} {path} {state}: is the plugin running?")


async def run_kubelet_command(args: argparse.Namespace) -> int:
    async with _client(args) as client:
        if args.verb == "register" or args.dra_socket is None:
            registered = await client.register()
            if args.verb == "register":
                print(_json(registered))
                return 0
        if args.verb in ("prepare", "unprepare"):
            refs = [parse_claim(c) for c in args.claims]
            call = client.prepare if args.verb == "prepare" else client.unprepare
            results = await call(refs, args.version)
            print(_json(results))
            return 1 if any(r.error for r in results.values()) else 0
        seen = 0
        async for message in client.watch_health(args.version):
            print(_json([r.health for r in message]))
            seen += 1
            if seen >= args.count:
                break
        return 0
