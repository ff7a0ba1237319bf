"""gRPC's own cost per DRA call: the same no-op call -- an unprepare of a claim nobody prepared,
answered without error and without I/O -- to three servers, from the same grpc-go kubelet
stand-in (``kubeletload``):

- **grpc-go**: the kubelet's generated DRA server doing nothing (``kubeletload -serve-noop``),
  the transport of every Go plugin, the reference driver's included;
- **grpc.aio**: a grpcio server on uvloop doing nothing (``benches/grpc_noop_server.py``), with
  the gRPC settings drafast's processes get: grpcio's floor;
- **drafast**: the file plugin (``drafast run file``, ``dir:`` cluster) through its whole
  kubelet edge and core (for an unknown claim: a lookup, no checkpoint write).

The servers take turns: chunks of sequential calls, then rounds of 64 concurrent calls, the
order rotated each turn, so a change in the machine's speed falls on all alike. Rows per server:
round trip p50 / p99 of sequential calls, the server's CPU per call (every thread's run time,
``/proc/<pid>/task/*/schedstat``), 64 concurrent calls' wall p50. Results go to
bench-results/grpc_floor.json and grpc_floor.md. No thresholds: the table shows where the
per-call floor is and how much of it is grpcio's.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from drafast.testing.bench import BackgroundLoop, GoKubelet, PluginProcess, build_kubeletload
from drafast.testing.bench.kubelet import Results
from drafast.testing.process import wait_accepting
from drafast.types import ClaimRef, ClaimUID

from .conftest import file_driver

REPO = Path(__file__).resolve().parents[1]
CALLS, CHUNK, WARMUP = 2000, 100, 200  # sequential calls per server, per turn, untimed first
BURSTS, BURST_WARMUP = 30, 3  # rounds of 64 concurrent calls per server


def run_ns(pid: int) -> int:
    """Nanoseconds every thread of process ``pid`` has run so far (exited threads not
    counted: the servers' threads live as long as they do)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError, IndexError, ValueError):  # the thread exited meanwhile
            total += int((task / "schedstat").read_text().split()[0])
    return total


@dataclass
class Server:
    """One server under test, its client, and what it measured."""

    name: str
    pid: int
    kubelet: GoKubelet
    stop: Callable[[], int]
    round_trip_s: list[float] = field(default_factory=list)
    run_ns: int = 0
    calls: int = 0
    burst64_s: list[float] = field(default_factory=list)


def command_server(name: str, argv: list[str], socket: Path) -> Server:
    proc = subprocess.Popen(argv)  # its output, if any, goes to pytest's capture
    wait_accepting(socket, proc, name)

    def stop() -> int:
        proc.terminate()
        try:
            return proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait()

    return Server(name, proc.pid, GoKubelet(socket, build_kubeletload()), stop)


def drafast_server(root: Path, loop: BackgroundLoop) -> Server:
    plugin = PluginProcess.start_driver("file", root, loop, driver_options=file_driver(root))
    return Server(
        "drafast", plugin.pid, GoKubelet(plugin.dra_socket, build_kubeletload()), plugin.stop
    )


def fresh_claims(n: int) -> list[ClaimRef]:
    return [
        ClaimRef(namespace="floor", name=f"noop-{i}", uid=ClaimUID(str(uuid.uuid4())))
        for i in range(n)
    ]


def answered(groups: list[list[ClaimRef]], outs: Results) -> None:
    for group, out in zip(groups, outs, strict=True):
        assert set(out) == {r.uid for r in group}, "answers for other claims than asked"
        assert all(a.error == "" for a in out.values()), out


def rotated(servers: list[Server], turn: int) -> list[Server]:
    k = turn % len(servers)
    return servers[k:] + servers[:k]


def measure(servers: list[Server]) -> None:
    for s in servers:
        for _ in range(WARMUP):
            groups = [fresh_claims(1)]
            answered(groups, s.kubelet.unprepare(groups)[1])
    for turn in range(CALLS // CHUNK):
        for s in rotated(servers, turn):
            calls = [[ref] for ref in fresh_claims(CHUNK)]
            before = run_ns(s.pid)
            for group in calls:
                seconds, outs = s.kubelet.unprepare([group])
                answered([group], outs)
                s.round_trip_s.append(seconds)
            s.run_ns += run_ns(s.pid) - before
            s.calls += CHUNK
    for turn in range(BURSTS + BURST_WARMUP):
        for s in rotated(servers, turn):
            groups = [[ref] for ref in fresh_claims(64)]
            seconds, outs = s.kubelet.unprepare(groups)
            answered(groups, outs)
            if turn >= BURST_WARMUP:
                s.burst64_s.append(seconds)


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def table(rows: dict[str, dict[str, float]]) -> str:
    go = rows["grpc-go"]
    lines = [
        "| server | round trip p50 | p99 | CPU per call | vs grpc-go | 64 concurrent calls p50 |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        lines.append(
            f"| {name} | {r['p50_ms']:.3f} ms | {r['p99_ms']:.3f} ms | {r['cpu_ms']:.3f} ms |"
            f" {r['cpu_ms'] / go['cpu_ms']:.2f}x | {r['burst64_ms']:.2f} ms |"
        )
    return "\n".join(lines)


@pytest.fixture
def servers(tmp_path: Path, loop: BackgroundLoop) -> Iterator[list[Server]]:
    started: list[Server] = []
    try:
        started.append(
            command_server(
                "grpc-go",
                [str(build_kubeletload()), "-serve-noop", str(tmp_path / "go.sock")],
                tmp_path / "go.sock",
            )
        )
        script = REPO / "benches" / "grpc_noop_server.py"
        sock = tmp_path / "aio.sock"
        started.append(command_server("grpc.aio", [sys.executable, str(script), str(sock)], sock))
        started.append(drafast_server(tmp_path / "drafast", loop))
        yield started
    finally:
        codes = {}
        for s in started:
            s.kubelet.close()
            codes[s.name] = s.stop()
    assert all(c == 0 for c in codes.values()), f"exit codes on SIGTERM: {codes}"


@pytest.mark.timeout(1200)
def test_grpc_floor_per_call(servers: list[Server]) -> None:
    measure(servers)
    rows: dict[str, dict[str, Any]] = {}
    for s in servers:
        assert s.calls == CALLS and len(s.burst64_s) == BURSTS
        rows[s.name] = {
            "p50_ms": statistics.median(s.round_trip_s) * 1e3,
            "p99_ms": percentile(s.round_trip_s, 0.99) * 1e3,
            "cpu_ms": s.run_ns / s.calls / 1e6,
            "burst64_ms": statistics.median(s.burst64_s) * 1e3,
        }
    out = Path(os.environ.get("DRAFAST_BENCH_RESULTS") or REPO / "bench-results")
    out.mkdir(parents=True, exist_ok=True)
    (out / "grpc_floor.json").write_text(json.dumps(rows, indent=1))
    md = table(rows)
    (out / "grpc_floor.md").write_text(md + "\n")
    print("\n" + md)
    assert all(r["cpu_ms"] > 0 for r in rows.values()), "no CPU time read: /proc unavailable?"
