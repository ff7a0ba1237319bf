"""drafast side by side with the Go reference DRA driver, on one real control plane.

The reference is kubernetes-sigs/dra-example-driver's kubelet plugin (Go ``kubeletplugin``
helper), built from the Go module proxy at the version pinned in tools/versions.env
(`make reference-driver`), its client rate limit lifted (as shipped, QPS 5 / burst 10 makes every
claim GET wait ~200 ms). drafast is ``drafast run file --cluster kube``. Both get the same Go
kubelet stand-in (the kubelet's own grpc-go DRA client), the same number of real ResourceClaims
allocated to devices they publish and reserved for real Pods on the node, CDI specs on tmpfs,
and run alternately (drafast, reference, drafast, reference), each block after waiting for a
quiet machine (the load is recorded with every block). Every answer is checked.

Rows: prepare of 1 claim (sequential calls) p50/p99, its unprepare p50, 64 concurrent 1-claim
calls (wall) p50, 64 claims in one call p50, plugin CPU per prepare + unprepare (utime + stime of
the plugin over the sequential rounds), plugin RSS 2 s after a block's last round (both idle by
then; the RSS at the last answer is kept too), process start -> GetInfo answered p50. Results go
to bench-results/reference.json; benches/reference_report.py renders the table with each ratio
(drafast / Go) against the issue's target. Missed targets are reported, never failed: timing
thresholds are not test failures.
"""

from __future__ import annotations

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


def drive_metered(rounds: PrepareRounds, n: int, warmup: int, pid: int) -> float:
    """``rounds.drive(n, warmup)``; returns the CPU seconds process ``pid`` (the API server,
    which serves both plugins' claim GETs on the same two CPUs) used per timed call: the round's
    prepare, not its claims' creation or unprepare."""
    spent = 0.0
    for i in range(n + warmup):
        rounds.setup()
        before = process_cpu_seconds(pid)
        rounds.prepare()
        if i >= warmup:
            spent += process_cpu_seconds(pid) - before
    rounds.unprepare_current()
    return spent / n


def specs(cdi: Path) -> set[str]:
    return {p.name for p in cdi.iterdir()} if cdi.is_dir() else set()


def block(cp: ControlPlane, who: Contender, root: Path, loop: BackgroundLoop) -> dict[str, Any]:
    """One contender's measurements, started on a quiet machine."""
    load = wait_quiet(QUIET_BUSY, QUIET_WITHIN)
    root.mkdir(parents=True)
    cdi = tmpfs_dir(f"drafast-bench-ref-{who.name}-")
    (root / "cdi").symlink_to(cdi)
    meter = BusyMeter()  # the whole machine while this block runs (plugin, client, API server)
    plugin = who.start(root, loop)
    ready = [plugin.ready_seconds]
    out: dict[str, Any] = {"load": str(load), "busy": load.busy, "waited_s": load.waited}
    try:
        pool, devices = published(cp, who.driver)
        claims = KubeClaims(
            cp.api,
            driver=who.driver,
            pool=pool,
            devices=devices,
            node=NODE,
            pods=DEVICES,
            prefix=root.name,  # unique per block: pods and claims of earlier blocks stay
        )
        before = specs(cdi)  # the reference keeps a common spec of its own
        rig = PrepareRig(plugin, claims, GoKubelet(plugin.dra_socket, build_kubeletload()))
        seq = rig.rounds(1, 1, who.check)
        cpu0 = plugin.cpu_seconds()
        seq.drive(SEQ_ROUNDS, WARMUP)
        cpu = plugin.cpu_seconds() - cpu0
        api = cp.pid("kube-apiserver")
        api_per_prepare = drive_metered(rig.rounds(1, 1, who.check), SEQ_ROUNDS, WARMUP, api)
        concurrent = rig.rounds(64, 64, who.check)
        api_per_concurrent64 = drive_metered(concurrent, BIG_ROUNDS, WARMUP, api)
        one_call = rig.rounds(64, 1, who.check)
        one_call.drive(BIG_ROUNDS, WARMUP)
        assert specs(cdi) == before, "a claim's CDI spec outlived its unprepare"
        rss_at_end = plugin.rss_kib()
        time.sleep(RSS_SETTLE_S)
        out |= {
            "prepare_s": seq.prepare_s[WARMUP:],
            "unprepare_s": seq.unprepare_s[WARMUP:],
            "concurrent64_s": concurrent.prepare_s[WARMUP:],
            "onecall64_s": one_call.prepare_s[WARMUP:],
            "cpu_per_cycle_s": cpu / (SEQ_ROUNDS + WARMUP),
            "apiserver_cpu_per_prepare_s": api_per_prepare,
            "apiserver_cpu_per_concurrent64_s": api_per_concurrent64,
            "rss_kib": plugin.rss_kib(),
            "rss_at_end_kib": rss_at_end,
            "busy_during": meter.busy(),
        }
        rig.kubelet.close()
    finally:
        code = plugin.stop()
    assert code == 0, f"{who.name} exited with {code} on SIGTERM"
    for i in range(STARTS - 1):  # more start -> GetInfo samples, each from a fresh process
        p = who.start(root.with_name(f"{root.name}-start{i}"), loop)
        ready.append(p.ready_seconds)
        time.sleep(1.0)  # let it finish starting (slice informers): SIGTERM before is an error
        assert p.stop() == 0, f"{who.name} exited non-zero on SIGTERM"
    shutil.rmtree(cdi, ignore_errors=True)
    out["ready_s"] = ready
    return out


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
        passes.append(
            {c.name: block(cp, c, short_dir / f"p{n}-{c.name}", loop) for c in contenders}
        )
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
