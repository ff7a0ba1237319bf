"""``drafast cpu topology`` and ``drafast cpu pack``: what the CPU driver sees on a host, and
which CPUs it would give a claim, without running the driver.

``topology`` prints :func:`~drafast.drivers.cpu.topology.read_topology` as JSON or a table;
``pack`` runs the native packer (``drafast._native.cpuset_take``, the kubelet static policy's
algorithm) once on that topology. ``cli.main`` hands ``drafast cpu ...`` straight to
:func:`main`, as it does ``probe``: the plugin machinery (gRPC, settings schema) is never
imported. Every error, bad flags included, is one ``drafast: error:`` line and exit 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from drafast.errors import ConfigError, CpuListError, DrafastError

if TYPE_CHECKING:
    from drafast.drivers.cpu.topology import CpuTopology

__all__ = ["main"]

TABLE_COLUMNS = ("CPU", "SOCKET", "NUMA", "CORE", "CORE_ID", "CLUSTER", "L3", "UNCORE", "TYPE")


class _OneLineParser(argparse.ArgumentParser):
    """argparse's errors as one ``drafast: error:`` line (no usage block), like every other
    error of the command."""

    def error(self, message: str) -> NoReturn:
        verb = self.prog.removeprefix("drafast ").strip()
        self.exit(2, f"drafast: error: {verb}: {message} (see {self.prog} --help)\n")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value}: must be at least 1")
    return value


def _parser() -> _OneLineParser:
    p = _OneLineParser(
        prog="drafast cpu", description="What the CPU driver sees on a host, and would pick."
    )
    verbs = p.add_subparsers(
        dest="verb", metavar="{topology,pack}", required=True, parser_class=_OneLineParser
    )
    host_root: dict[str, Any] = {
        "type": Path,
        "default": Path(os.environ.get("HOST_ROOT") or "/"),
        "help": "where the host's /sys is visible (default: $HOST_ROOT or /) [HOST_ROOT]",
    }
    topo = verbs.add_parser("topology", help="the CPUs as the driver reads them from sysfs")
    topo.add_argument("--host-root", **host_root)
    topo.add_argument("--format", choices=("table", "json"), default="table")
    pack = verbs.add_parser(
        "pack",
        help="the CPUs the driver would give a claim of --count CPUs",
        description="Prints the cpulist the native packer picks, as the kubelet's static "
        "policy would: whole sockets, NUMA nodes, L3 caches and cores first.",
    )
    pack.add_argument("--host-root", **host_root)
    pack.add_argument("--count", type=_positive, required=True, help="how many CPUs")
    pack.add_argument("--free", help="cpulist to pick from (default: all usable online CPUs)")
    pack.add_argument("--reserved", default="", help="cpulist never handed out (--reserved-cpus)")
    pack.add_argument("--full-cores", action="store_true", help="whole physical cores only")
    pack.add_argument(
        "--spread-numa", action="store_true", help="spread over NUMA nodes instead of packing"
    )
    return p


def main(argv: Sequence[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        output = _run(args)
        sys.stdout.write(output)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
    except DrafastError as err:
        print(f"drafast: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `drafast cpu topology | head`: as cli.main says it
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        print("drafast: error: output closed (broken pipe)", file=sys.stderr)
        return 2
    return 0


def _run(args: argparse.Namespace) -> str:
    if not args.host_root.is_dir():
        raise ConfigError(f"--host-root {args.host_root}: not a directory")
    from drafast.drivers.cpu.topology import read_topology

    topology = read_topology(args.host_root)
    if args.verb == "topology":
        return _as_json(topology) if args.format == "json" else _as_table(topology)
    return _pack(topology, args) + "\n"


def _as_json(topology: CpuTopology) -> str:
    cpus = [topology.cpus[i] for i in sorted(topology.cpus)]
    document = {
        "online": topology.online,
        "smt": topology.smt_enabled,
        "cpus": [
            {
                "id": c.id,
                "socket": c.socket,
                "numa": c.numa,
                "core": c.core,
                "core_id": c.core_id,
                "cluster": c.cluster,
                "l3": c.l3,
                "uncore": c.uncore,
                "core_type": c.core_type,
                "siblings": list(c.siblings),
            }
            for c in cpus
        ],
    }
    return json.dumps(document, indent=2) + "\n"


def _as_table(topology: CpuTopology) -> str:
    rows: list[tuple[str, ...]] = [(*TABLE_COLUMNS, "SIBLINGS")]
    for i in sorted(topology.cpus):
        c = topology.cpus[i]
        numbers = (c.id, c.socket, c.numa, c.core, c.core_id, c.cluster, c.l3, c.uncore)
        siblings = ",".join(map(str, c.siblings)) or "-"
        rows.append((*map(str, numbers), c.core_type, siblings))
    widths = [max(len(row[k]) for row in rows) for k in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    return "".join(line.rstrip() + "\n" for line in lines)


def _pack(topology: CpuTopology, args: argparse.Namespace) -> str:
    from drafast.drivers.cpu.cpulist import format_cpulist

    reserved = _flag_cpulist("--reserved", args.reserved)
    free = topology.cpu_ids() if args.free is None else _flag_cpulist("--free", args.free)
    # CPUs the topology does not know (offline, or skipped for incomplete sysfs) cannot be
    # placed; say so here rather than leave it to the packer's generic error.
    unknown = free - topology.cpu_ids()
    if unknown:
        raise ConfigError(
            f"--free {args.free}: CPUs {format_cpulist(unknown)} are not online "
            f"(usable: {format_cpulist(topology.cpu_ids())})"
        )
    from drafast import _native

    return _native.cpuset_take(
        _native.CpuTopology(*topology.arrays()),
        format_cpulist(free - reserved),
        args.count,
        spread_numa=args.spread_numa,
        full_cores=args.full_cores,
    )


def _flag_cpulist(flag: str, text: str) -> frozenset[int]:
    from drafast.drivers.cpu.cpulist import parse_cpulist

    try:
        return parse_cpulist(text)
    except CpuListError as err:
        raise CpuListError(f"{flag} {text}: {err}") from err
