"""``drafast demo``: the whole DRA flow offline, through the plugin's real sockets.

Starts the file driver in ``dir:`` mode in a temp dir, shows the published slice, writes an
allocated claim for a demo pod, prepares it as the kubelet would, shows the CDI spec and the file,
unprepares, shows the cleanup and measures prepare latency. Exit code 0 only if every check held.
"""

from __future__ import annotations

import logging
import statistics
import tempfile
import time
from pathlib import Path

import orjson
import yaml

from drafast.app.process import DriverProcess
from drafast.app.settings import RunOptions, offline_options
from drafast.drivers.file import DEFAULT_DRIVER_NAME
from drafast.k8s import DirStore, allocated_claim
from drafast.kubelet.client import KubeletClient
from drafast.types import ClaimRef, ClaimUID

NODE = "demo-node"
LATENCY_ROUNDS = 50


class Checks:
    def __init__(self) -> None:
        self.failed = 0

    def step(self, title: str) -> None:
        print(f"\n== {title}")

    def check(self, ok: bool, what: str) -> None:
        print(f"   [{'ok' if ok else 'FAILED'}] {what}")
        self.failed += not ok

    def show(self, text: str) -> None:
        for line in text.rstrip().splitlines():
            print(f"   | {line}")


def _options(root: Path) -> RunOptions:
    return offline_options(
        root,
        driver_name=DEFAULT_DRIVER_NAME,
        node_name=NODE,
        log_level="warning",
        resync_seconds=30.0,
        health_poll_seconds=5.0,
        bind_address="",
    )


async def run_demo(keep: bool = False) -> int:
    logging.basicConfig(level=logging.WARNING)
    tmp = tempfile.TemporaryDirectory(prefix="drafast-demo-")
    root = Path(tmp.name)
    try:
        return await _demo(root)
    finally:
        if keep:
            print(f"\n(kept {root})")
        else:
            tmp.cleanup()


async def _demo(root: Path) -> int:
    c = Checks()
    files = root / "files"
    files.mkdir()
    (files / "greeting").write_text("# pods using this file:\n")
    opts = _options(root)
    store = DirStore(root / "cluster")
    print(f"drafast demo: file driver {opts.driver_name} on node {NODE!r}, everything under {root}")

    async with DriverProcess(opts).running() as plugin:
        c.step("1. the plugin serves its sockets")
        c.check(plugin.server.paths.dra.is_socket(), f"DRA socket {plugin.server.paths.dra}")
        c.check(
            plugin.server.paths.registration.is_socket(),
            f"registration socket {plugin.server.paths.registration}",
        )

        async with KubeletClient(registration_socket=plugin.server.paths.registration) as kubelet:
            c.step("2. the kubelet registers it (GetInfo + NotifyRegistrationStatus)")
            reg = await kubelet.register()
            c.check(
                reg.version == "v1",
                f"chose DRAPlugin {reg.version} from {list(reg.info.supported_versions)}",
            )
            c.check(plugin.server.registration.registered, "the plugin saw the registration")

            c.step("3. the published ResourceSlice")
            slices = [o for _, o in store.list("resourceslices")]
            c.check(len(slices) == 1, f"{len(slices)} slice in {store.root / 'resourceslices'}")
            if slices:
                c.show(yaml.safe_dump(slices[0]["spec"], sort_keys=False))
            device = slices[0]["spec"]["devices"][0]["name"] if slices else "greeting"

            c.step("4. the scheduler's part: an allocated claim reserved for pod default/demo-pod")
            claim = allocated_claim(
                namespace="default",
                name="demo-claim",
                driver=opts.driver_name,
                devices=[("file", NODE, device)],
                pods=["demo-pod"],
            )
            store.put("resourceclaims", claim, "default")
            uid = claim["metadata"]["uid"]
            ref = ClaimRef(namespace="default", name="demo-claim", uid=ClaimUID(uid))
            print(f"   claim default/demo-claim uid={uid} -> device {NODE}/{device}")

            c.step("5. NodePrepareResources over the DRA socket")
            res = (await kubelet.prepare([ref]))[uid]
            c.check(not res.error, f"prepared without error {res.error!r}")
            ids = [i for d in res.devices for i in d.cdi_device_ids]
            c.check(len(ids) == 1, f"CDI device IDs: {ids}")
            spec_path = plugin.cdi.path(uid)
            c.check(spec_path.exists(), f"CDI spec {spec_path.name}")
            if spec_path.exists():
                spec = orjson.loads(spec_path.read_bytes())
                c.show(orjson.dumps(spec, option=orjson.OPT_INDENT_2).decode())
                mounts = spec["devices"][0]["containerEdits"].get("mounts", [])
                c.check(
                    mounts and mounts[0]["options"] == ["ro", "bind"],
                    "bind-mounts the file read-only",
                )
            content = (files / "greeting").read_text()
            c.show(content)
            c.check(f"default/demo-pod claim={uid}" in content, "the file names the pod and claim")
            again = (await kubelet.prepare([ref]))[uid]
            c.check(again == res, "a repeated prepare answers the same devices (idempotent)")

            c.step("6. NodeUnprepareResources")
            un = (await kubelet.unprepare([ref]))[uid]
            c.check(not un.error, "unprepared without error")
            c.check(not spec_path.exists(), "the CDI spec is gone")
            c.check(uid not in (files / "greeting").read_text(), "the claim's line is removed")
            c.check(len(plugin.store) == 0, "the checkpoint holds no claims")

            c.step(f"7. prepare latency ({LATENCY_ROUNDS} claims, one at a time, fsync included)")
            lat = []
            for i in range(LATENCY_ROUNDS):
                obj = allocated_claim(
                    namespace="default",
                    name=f"lat-{i}",
                    driver=opts.driver_name,
                    devices=[("file", NODE, device)],
                    pods=[f"pod-{i}"],
                )
                store.put("resourceclaims", obj, "default")
                r = ClaimRef(
                    namespace="default", name=f"lat-{i}", uid=ClaimUID(obj["metadata"]["uid"])
                )
                t0 = time.perf_counter()
                out = await kubelet.prepare([r])
                lat.append(time.perf_counter() - t0)
                c.failed += bool(out[r.uid].error)
                await kubelet.unprepare([r])
            lat.sort()
            p50 = statistics.median(lat) * 1e3
            p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1e3
            print(f"   prepare p50 {p50:.2f} ms, p99 {p99:.2f} ms (gRPC round trip included;")
            print(
                "   this demo's client shares the plugin's event loop: `make bench` times it alone)"
            )

    c.step("8. after shutdown")
    c.check(
        not opts.registry_dir.joinpath(f"{opts.driver_name}-reg.sock").exists(), "sockets removed"
    )
    print(f"\n{'all checks passed' if not c.failed else f'{c.failed} check(s) FAILED'}")
    return 0 if not c.failed else 1
