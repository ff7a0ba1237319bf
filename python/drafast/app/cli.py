"""The ``drafast`` command: ``run``, ``kubelet`` (a kubelet stand-in), ``demo``, ``probe`` and
``cpu`` (CPU driver diagnostics).

``drafast run <driver>`` is parsed in two steps: first the driver (a built-in, an entry point of
the ``drafast.drivers`` group or ``module:attr``), then the options of that driver's settings
schema plus the common ones, all derived from the settings dataclasses.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Coroutine, Sequence
from typing import Any

from drafast.errors import DrafastError
from drafast.runtime import grpcenv


class _DriverArgument(argparse._StoreAction):
    """The driver positional; its help lists the installed drivers only when help is shown
    (the entry-point scan costs ~40 ms of a plugin's start)."""

    @property
    def help(self) -> str:
        from drafast.app.drivers import known_names

        return f"one of {', '.join(known_names())}, or module:attr"

    @help.setter
    def help(self, value: str | None) -> None:
        pass


class _VersionAction(argparse.Action):
    """``--version``, looked up only when asked for (the lookup imports the whole process)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="show the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        from drafast.app.process import drafast_version

        print(f"drafast {drafast_version()}")
        parser.exit()


def _run_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], kind: Any, *, probe: bool = False
) -> None:
    from drafast.app import schema
    from drafast.app.settings import RunOptions

    p = sub.add_parser(
        "run",
        help="run a driver (kubelet plugin or controller)",
        description="Flags win over environment variables, which win over the --config file.",
        add_help=not probe,  # the probe only looks for the driver; --help comes after it
    )
    p.add_argument("driver", nargs="?" if probe else None, action=_DriverArgument)
    p.add_argument("--config", help="YAML file with settings, keys as the flags [DRAFAST_CONFIG]")
    p.add_argument(
        "-v",
        dest="log_level",
        action="store_const",
        const="debug",
        help="verbose: the same as --log-level debug",
    )
    schema.add_arguments(p.add_argument_group("common settings"), RunOptions)
    if kind is not None:
        title = f"{kind.name} driver settings"
        schema.add_arguments(p.add_argument_group(title, kind.description), kind.settings)


def build_parser(kind: Any = None, *, probe: bool = False) -> argparse.ArgumentParser:
    """The full parser; ``kind`` adds that driver's own options to ``run``."""
    parser = argparse.ArgumentParser(
        prog="drafast",
        description="A Kubernetes DRA toolkit: run a driver, play the kubelet, or see a demo.",
        add_help=not probe,
    )
    parser.add_argument("--version", action=_VersionAction)
    sub = parser.add_subparsers(dest="command", required=not probe)
    _run_parser(sub, kind, probe=probe)
    from drafast.app.kubelet_cmd import add_kubelet_parser

    add_kubelet_parser(sub, verbs_too=kind is None)  # with a kind, it parses ``run`` only
    demo = sub.add_parser("demo", help="the whole DRA flow offline: no cluster, no root")
    demo.add_argument("--keep", action="store_true", help="keep the temp dir for inspection")
    sub.add_parser(
        "probe",
        help="ask a running drafast's /livez, /readyz or /metrics (drafast probe --help)",
        add_help=False,
    )
    sub.add_parser(
        "cpu",
        help="the CPU topology as the CPU driver reads it, a packing dry run (drafast cpu --help)",
        add_help=False,
    )
    return parser


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["run"] and len(argv) > 1 and not argv[1].startswith("-"):
        driver = argv[1]  # the common spelling: no probe parser needed to find the driver
    else:
        first, _ = build_parser(probe=True).parse_known_args(argv)
        if first.command != "run" or first.driver is None:
            return build_parser().parse_args(argv)  # help, errors and the other commands
        driver = first.driver
    from drafast.app.drivers import find_kind

    kind = find_kind(driver)
    args = build_parser(kind).parse_args(argv)
    args.kind = kind
    return args


def _run(args: argparse.Namespace) -> int:
    from drafast.app.logs import setup_logging
    from drafast.app.serve import serve_until_signalled
    from drafast.app.settings import resolve

    opts = resolve(args, os.environ, args.kind)
    setup_logging(opts.log_format, opts.log_level)
    return run_async(serve_until_signalled(opts))


def run_async(coro: Coroutine[Any, Any, int]) -> int:
    import uvloop

    return uvloop.run(coro)


def _command(args: argparse.Namespace) -> int:
    if args.command == "run":
        return _run(args)
    if args.command == "demo":
        from drafast.app.demo import run_demo

        return run_async(run_demo(keep=args.keep))
    from drafast.app.kubelet_cmd import run_kubelet_command

    return run_async(run_kubelet_command(args))


def main(argv: Sequence[str] | None = None) -> int:
    grpcenv.apply()  # before anything imports grpc, which reads it once
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["probe"]:  # an exec probe, every few seconds: nothing else to import
        from drafast.app.probe import main as probe_main

        return probe_main(argv[1:])
    if argv[:1] == ["cpu"]:  # diagnostics: sysfs and the native packer, no plugin machinery
        from drafast.app.cpu_cmd import main as cpu_main

        return cpu_main(argv[1:])
    try:
        code = _command(parse(argv))
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
        return code
    except DrafastError as err:
        print(f"drafast: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (`drafast kubelet health | head`): no traceback, no more output.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        print("drafast: error: output closed (broken pipe)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
