"""The ``drafast`` command: ``run``, ``kubelet`` (a kubelet stand-in) and ``demo``."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Coroutine, Sequence
from typing import Any

from drafast.app.drivers import DRIVERS
from drafast.errors import DrafastError


def _run_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("run", help="run a driver's kubelet plugin")
    p.add_argument("driver", choices=sorted(DRIVERS))
    p.add_argument("--config", help="YAML file with settings (flags and env win over it)")
    p.add_argument("--driver-name", help="DRA driver name (default: the driver's own)")
    p.add_argument("--node-name", help="this node's name [NODE_NAME]")
    p.add_argument(
        "--plugin-dir",
        help="DRA socket + checkpoint dir [default /var/lib/kubelet/plugins/<driver>]",
    )
    p.add_argument(
        "--registry-dir", help="kubelet plugin registry dir [/var/lib/kubelet/plugins_registry]"
    )
    p.add_argument("--cdi-dir", help="CDI spec dir [CDI_ROOT, /var/run/cdi]")
    p.add_argument("--cluster", help="'kube' or 'dir:PATH' (offline object store) [kube]")
    p.add_argument("--kubeconfig", help="kubeconfig for --cluster kube (default: in-cluster)")
    p.add_argument("--context", help="kubeconfig context (default: its current-context)")
    p.add_argument("--pod-uid", help="this pod's UID: rolling-update socket names [POD_UID]")
    p.add_argument("--log-format", choices=["text", "json"])
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    p.add_argument(
        "--serialize",
        action="store_true",
        default=None,
        help="handle one kubelet call at a time (the Go helper's default)",
    )
    p.add_argument("--resync-seconds", type=float, help="slice resync period [30]")
    p.add_argument("--bind-address", help="host:port for /healthz and /metrics ('' = off) [:8080]")
    p.add_argument("--grace-seconds", type=float, help="shutdown grace for in-flight calls [5]")
    g = p.add_argument_group("file driver")
    g.add_argument("--resource-dir", help="directory whose files are devices [RESOURCE_DIR]")
    g.add_argument(
        "--durable-writes",
        dest="durable_writes",
        action="store_true",
        default=None,
        help="fsync every rewritten file (restore from the checkpoint covers power loss anyway)",
    )
    g.add_argument(
        "--shared-files",
        dest="shared_files",
        action="store_true",
        default=None,
        help="let separate claims share a file (allowMultipleAllocations) [SHARED_FILES]",
    )
    g = p.add_argument_group("nx driver")
    g.add_argument(
        "--host-root",
        help="where the host's /sys, /proc and /dev are visible [HOST_ROOT, /]",
    )
    g.add_argument(
        "--nx-sharing",
        choices=["exclusive", "shared"],
        help="one claim per accelerator, or many sharing its credits [NX_SHARING, exclusive]",
    )
    g.add_argument(
        "--nx-max-shares",
        type=int,
        help="cap on the credits published per accelerator [NX_MAX_SHARES; default: probed]",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="drafast", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _run_parser(sub)
    from drafast.app.kubelet_cmd import add_kubelet_parser

    add_kubelet_parser(sub)
    demo = sub.add_parser("demo", help="the whole DRA flow offline: no cluster, no root")
    demo.add_argument("--keep", action="store_true", help="keep the temp dir for inspection")
    return parser


def _run(args: argparse.Namespace) -> int:
    from drafast.app.logs import setup_logging
    from drafast.app.runner import serve_until_signalled
    from drafast.app.settings import resolve

    opts = resolve(args, os.environ, DRIVERS[args.driver].default_name)
    setup_logging(opts.log_format, opts.log_level)
    return run_async(serve_until_signalled(opts))


def run_async(coro: Coroutine[Any, Any, int]) -> int:
    import uvloop

    return uvloop.run(coro)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "run":
            return _run(args)
        if args.command == "demo":
            from drafast.app.demo import run_demo

            return run_async(run_demo(keep=args.keep))
        from drafast.app.kubelet_cmd import run_kubelet_command

        return run_async(run_kubelet_command(args))
    except DrafastError as err:
        print(f"drafast: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
