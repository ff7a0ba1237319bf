"""drafast side by side with the Go reference DRA driver, on one real control plane.

The reference is kubernetes-sigs/dra-example-driver's kubelet plugin (Go ``kubeletplugin``
helper), built from the Go module proxy at the version pinned in tools/versions.env
(`make reference-driver`), its client rate limit lifted (as shipped, QPS 5 / burst 10 makes every
claim GET wait ~200 ms). drafast is ``drafast run file --cluster kube``. Both get the same Go
kubelet stand-in (the kubelet's own grpc-go DRA client), the same number of real ResourceClaims
allocated to devices they publish and reserved for real Pods on the node, CDI specs on tmpfs.
Both plugins run side by side through a pass, started after waiting for a quiet machine (the load
is recorded with every pass), and every row is measured by rounds that alternate between them
(the order swapped each round and each pass), so a change in the machine's speed -- this VM is
shared -- falls on both alike. Every answer is checked.

Rows: prepare of 1 claim (sequential calls) p50/p99, its unprepare p50, 64 concurrent 1-claim
calls (wall) p50, 64 claims in one call p50, plugin CPU per prepare + unprepare (utime + stime of
the plugin over the sequential rounds), plugin RSS 2 s after a pass's last round (both idle by
then; the RSS at the last answer is kept too), process start -> GetInfo answered p50. Results go
to bench-results/reference.json; benches/reference_report.py renders the table with each ratio
(drafast / Go) against the issue's target. Missed targets are reported, never failed: timing
thresholds are not test failures.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from drafast.app.schema import command_line
from drafast.app.settings import RunOptions
from drafast.testing.bench import (
    Answer,
    BackgroundLoop,
    BusyMeter,
    GoKubelet,
    KubeClaims,
    PluginProcess,
    PrepareRig,
    PrepareRounds,
    build_kubeletload,
    process_cpu_seconds,
    tmpfs_dir,
    wait_quiet,
)
from drafast.testing.cluster import ControlPlane
from drafast.types import ClaimRef

from .conftest import DRIVER, NODE, control_plane, file_driver

REPO = Path(__file__).resolve().parents[1]
V1 = "/apis/resource.k8s.io/v1"
GO_DRIVER = "gpu.example.com"
DEVICES = 64  # each plugin publishes 64 devices: a round's 64 claims get one each
PASSES = 2
SEQ_ROUNDS, BIG_ROUNDS, WARMUP, STARTS = 100, 15, 3, 5
QUIET_BUSY, QUIET_WITHIN = 0.15, 120.0  # the control plane alone idles at a few per cent
RSS_SETTLE_S = 2.0  # idle after the last round: drafast trims its heap, Go's scavenger runs


def reference_binary() -> Path:
    """``$DRAFAST_REFDRIVER``, else where tools/reference-driver.sh puts it."""
    if env := os.environ.get("DRAFAST_REFDRIVER"):
        return Path(env)
    cache = Path(os.environ.get("DRAFAST_CACHE") or Path.home() / ".cache" / "drafast")
    return cache / "refdriver-current" / "bin" / "dra-example-kubeletplugin"


def reference_version() -> str:
    stamp = reference_binary().parent / ".stamp"
    for line in stamp.read_text().splitlines() if stamp.is_file() else ():
        if line.startswith("module="):
            return line.split("@", 1)[1]
    return "?"


@dataclass
class Contender:
    """How to start one plugin and what its answers look like."""

    name: str
    driver: str
    start: Callable[[Path, BackgroundLoop], PluginProcess]
    cdi_prefix: str  # every prepared claim's CDI device ID starts with this + the claim UID

    def check(self, ref: ClaimRef, answer: Answer) -> None:
        want = f"{self.cdi_prefix}{ref.uid}-"
        assert any(i.startswith(want) for i in answer.cdi_ids), (ref, answer.cdi_ids)


def drafast_contender(cp: ControlPlane) -> Contender:
    def start(root: Path, loop: BackgroundLoop) -> PluginProcess:
        # Its shipped log level (info: a line per call), as the reference logs at its shipped
        # verbosity; the lines go to pytest's capture file, the reference's to a file too.
        flags = {"kubeconfig": cp.kubeconfig}
        return PluginProcess.start_driver(
            "file",
            root,
            loop,
            *command_line(RunOptions, flags),
            driver_options=file_driver(root, DEVICES),
            cdi_dir=root / "cdi",
            node_name=NODE,
            cluster="kube",
        )

    return Contender("drafast", DRIVER, start, f"k8s.{DRIVER}/file=")


def go_contender(cp: ControlPlane) -> Contender:
    binary = reference_binary()
    assert binary.is_file(), f"{binary} is missing: run `make reference-driver`"

    def start(root: Path, loop: BackgroundLoop) -> PluginProcess:
        argv = [
            binary,
            f"--node-name={NODE}",
            f"--cdi-root={root / 'cdi'}",
            f"--num-devices={DEVICES}",
            f"--kubelet-registrar-directory-path={root / 'registry'}",
            f"--kubelet-plugins-directory-path={root / 'plugins'}",
            f"--kubeconfig={cp.kubeconfig}",
            "--kube-api-qps=100000",  # lifted: as shipped, QPS 5 / burst 10
            "--kube-api-burst=100000",
        ]
        reg = root / "registry" / f"{GO_DRIVER}-reg.sock"
        reg.parent.mkdir(parents=True, exist_ok=True)  # the kubelet's dir: it makes none
        # its log (klog at its shipped verbosity: a line per claim) goes to a file, not a pipe
        log = root / "plugin.log"
        return PluginProcess.start_command(argv, reg, loop, env={"NODE_NAME": NODE}, log=log)

    return Contender("go", GO_DRIVER, start, f"k8s.{GO_DRIVER}/gpu=")


def published(cp: ControlPlane, driver: str, within: float = 60.0) -> tuple[str, list[str]]:
    """(pool, device names) of ``driver``'s ResourceSlices for the node, once published."""
    deadline = time.monotonic() + within
    sel = f"spec.driver={driver},spec.nodeName={NODE}"
    while True:
        items = cp.api.get(f"{V1}/resourceslices?fieldSelector={sel}")["items"]
        devices = [d["name"] for s in items for d in s["spec"].get("devices", ())]
        if len(devices) >= DEVICES:
            return items[0]["spec"]["pool"]["name"], devices
        assert time.monotonic() < deadline, f"{driver} published {len(devices)} devices"
        time.sleep(0.1)


@dataclass
class Side:
    """One contender in a pass: its running plugin, its rig, and what it measured so far."""

    who: Contender
    plugin: PluginProcess
    rig: PrepareRig
    cdi: Path
    specs_before: set[str]  # the reference keeps a common spec of its own
    ready: list[float]
    out: dict[str, Any]


def open_side(cp: ControlPlane, who: Contender, root: Path, loop: BackgroundLoop) -> Side:
    """Start ``who``'s plugin under ``root`` and make its claims, once it has published."""
    root.mkdir(parents=True)
    cdi = tmpfs_dir(f"drafast-bench-ref-{who.name}-")
    (root / "cdi").symlink_to(cdi)
    plugin = who.start(root, loop)
    try:
        pool, devices = published(cp, who.driver)
        claims = KubeClaims(
            cp.api,
            driver=who.driver,
            pool=pool,
            devices=devices,
            node=NODE,
            pods=DEVICES,
            prefix=root.name,  # unique per pass and plugin: earlier pods and claims stay
        )
        kubelet = GoKubelet(plugin.dra_socket, build_kubeletload())
    except BaseException:
        plugin.stop()
        shutil.rmtree(cdi, ignore_errors=True)
        raise
    # the rig owns the plugin and the CDI dir from here: its close() stops and removes them
    rig = PrepareRig(plugin, claims, kubelet, cdi_dir=cdi)
    return Side(who, plugin, rig, cdi, specs(cdi), [plugin.ready_seconds], {})


def interleaved(sides: list[Side], rounds: int, step: Callable[[Side, int], None]) -> None:
    """``step(side, i)`` for rounds i = 0 .. rounds-1, every side in turn, the order swapped
    each round: a change in the machine's speed mid-pass falls on both plugins alike."""
    for i in range(rounds):
        for side in sides if i % 2 == 0 else sides[::-1]:
            step(side, i)


def run_rounds(
    sides: list[Side], claims: int, calls: int, rounds: int, api_pid: int | None = None
) -> tuple[dict[str, PrepareRounds], dict[str, float], dict[str, float]]:
    """``rounds`` + WARMUP interleaved rounds of ``claims`` new claims in ``calls`` calls per
    side; each round's claims are unprepared at the start of the next. Returns per side: the
    rounds, the plugin's CPU seconds over all of them (claim creation, prepare and unprepare),
    and the CPU seconds process ``api_pid`` (the API server, serving both plugins' claim GETs on
    the same CPUs) used per timed prepare, not counting claim creation or unprepare."""
    runs = {s.who.name: s.rig.rounds(claims, calls, s.who.check) for s in sides}
    cpu = dict.fromkeys(runs, 0.0)
    api = dict.fromkeys(runs, 0.0)

    def step(side: Side, i: int) -> None:
        run, name = runs[side.who.name], side.who.name
        before = side.plugin.cpu_seconds()
        run.setup()
        api_before = process_cpu_seconds(api_pid) if api_pid else 0.0
        run.prepare()
        if api_pid and i >= WARMUP:
            api[name] += process_cpu_seconds(api_pid) - api_before
        cpu[name] += side.plugin.cpu_seconds() - before

    interleaved(sides, rounds + WARMUP, step)
    for side in sides:
        before = side.plugin.cpu_seconds()
        runs[side.who.name].unprepare_current()
        cpu[side.who.name] += side.plugin.cpu_seconds() - before
    return runs, cpu, {name: spent / rounds for name, spent in api.items()}


def specs(cdi: Path) -> set[str]:
    return {p.name for p in cdi.iterdir()} if cdi.is_dir() else set()


def one_pass(
    cp: ControlPlane, contenders: list[Contender], root: Path, loop: BackgroundLoop
) -> dict[str, dict[str, Any]]:
    """Both plugins running side by side, started on a quiet machine, every row measured by
    rounds that alternate between them."""
    load = wait_quiet(QUIET_BUSY, QUIET_WITHIN)
    meter = BusyMeter()  # the whole machine while this pass runs (plugins, client, API server)
    sides: list[Side] = []
    # Every side's rig is closed however the pass ends: its client, then its plugin (which must
    # exit 0 on SIGTERM), then its CDI dir.
    with contextlib.ExitStack() as stack:
        for who in contenders:
            sides.append(open_side(cp, who, root / f"{root.name}-{who.name}", loop))
            stack.enter_context(sides[-1].rig)
        api = cp.pid("kube-apiserver")
        seq, cpu, _ = run_rounds(sides, 1, 1, SEQ_ROUNDS)
        _, _, api_per_prepare = run_rounds(sides, 1, 1, SEQ_ROUNDS, api)
        concurrent, _, api_per_concurrent64 = run_rounds(sides, 64, 64, BIG_ROUNDS, api)
        one_call, _, _ = run_rounds(sides, 64, 1, BIG_ROUNDS)
        rss_at_end = {s.who.name: s.plugin.rss_kib() for s in sides}
        time.sleep(RSS_SETTLE_S)
        busy_during = meter.busy()
        for s in sides:
            name = s.who.name
            assert specs(s.cdi) == s.specs_before, f"{name}: a CDI spec outlived its unprepare"
            s.out |= {
                "load": str(load),
                "busy": load.busy,
                "waited_s": load.waited,
                "prepare_s": seq[name].prepare_s[WARMUP:],
                "unprepare_s": seq[name].unprepare_s[WARMUP:],
                "concurrent64_s": concurrent[name].prepare_s[WARMUP:],
                "onecall64_s": one_call[name].prepare_s[WARMUP:],
                "cpu_per_cycle_s": cpu[name] / (SEQ_ROUNDS + WARMUP),
                "apiserver_cpu_per_prepare_s": api_per_prepare[name],
                "apiserver_cpu_per_concurrent64_s": api_per_concurrent64[name],
                "rss_kib": s.plugin.rss_kib(),
                "rss_at_end_kib": rss_at_end[name],
                "busy_during": busy_during,
            }

    def start_again(side: Side, i: int) -> None:  # a start -> GetInfo sample from a fresh process
        p = side.who.start(root / f"{root.name}-{side.who.name}-start{i}", loop)
        side.ready.append(p.ready_seconds)
        time.sleep(1.0)  # let it finish starting (slice informers): SIGTERM before is an error
        assert p.stop() == 0, f"{side.who.name} exited non-zero on SIGTERM"

    interleaved(sides, STARTS - 1, start_again)
    return {s.who.name: s.out | {"ready_s": s.ready} for s in sides}


@pytest.fixture(scope="module")
def cp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with control_plane(tmp_path_factory.mktemp("bench-ref-cp")) as plane:
        yield plane


def _git_head() -> str:
    out = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip() or "?"


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A short base dir: socket paths have a 107-byte limit, and the file driver publishes each
    file's path as a device attribute (at most 64 bytes)."""
    d = Path(tempfile.mkdtemp(prefix="dfref-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.mark.timeout(3600)  # 2 passes x 2 plugins, ~2,400 claims each, plus the quiet waits
def test_side_by_side_with_the_go_reference(
    cp: ControlPlane, short_dir: Path, loop: BackgroundLoop
) -> None:
    contenders = [drafast_contender(cp), go_contender(cp)]
    passes: list[dict[str, Any]] = []
    for n in range(PASSES):
        # the first plugin to start and to take each round alternates between passes too
        order = contenders if n % 2 == 0 else contenders[::-1]
        passes.append(one_pass(cp, order, short_dir / f"p{n}", loop))
    results = {
        "drafast": _git_head(),
        # The plugin runs on this interpreter (sys.executable): say which build it was.
        "python": f"Python {platform.python_version()}, {os.path.realpath(sys.executable)}",
        "reference": f"sigs.k8s.io/dra-example-driver {reference_version()}",
        "cpus": os.cpu_count(),
        "quiet": {"max_busy": QUIET_BUSY, "within_s": QUIET_WITHIN},
        "passes": passes,
    }
    out = Path(os.environ.get("DRAFAST_BENCH_RESULTS") or REPO / "bench-results")
    out.mkdir(parents=True, exist_ok=True)
    (out / "reference.json").write_text(json.dumps(results, indent=1))
    # every pass measured every row
    for p in passes:
        for name in ("drafast", "go"):
            assert len(p[name]["prepare_s"]) == SEQ_ROUNDS
            assert statistics.median(p[name]["ready_s"]) > 0
