"""The prepare benchmark rig: a plugin process, a claim source and a kubelet stand-in; rounds of
NodePrepareResources (timed) and NodeUnprepareResources (timed, reported as extra info), every
answer checked."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from drafast.app.drivers import find_kind
from drafast.k8s import DirStore
from drafast.testing.bench.claims import ClaimSource, DirClaims
from drafast.testing.bench.kubelet import Answer, Client, Kubelet, Results, open_kubelet
from drafast.testing.bench.loop import BackgroundLoop
from drafast.testing.bench.plugin import PluginProcess
from drafast.testing.bench.stats import percentiles, record, tmpfs_dir
from drafast.types import ClaimRef

#: A per-claim check on top of the rig's own (no error, the expected number of devices).
Check = Callable[[ClaimRef, Answer], None]


def published_devices(store: DirStore, driver: str, node: str, within: float = 30.0) -> list[str]:
    """The device names ``driver`` publishes for ``node`` in a ``dir:`` store, once it has."""
    deadline = time.monotonic() + within
    while True:
        names = [
            d["name"]
            for _, sl in store.list("resourceslices")
            if sl["spec"].get("driver") == driver and sl["spec"].get("nodeName") == node
            for d in sl["spec"].get("devices", ())
        ]
        if names:
            return names
        if time.monotonic() > deadline:
            raise AssertionError(f"{driver} published no devices for node {node} in {within}s")
        time.sleep(0.05)


class PrepareRig:
    """A plugin, claims for it and a kubelet stand-in that calls it. ``with`` it, or ``close``."""

    def __init__(
        self,
        plugin: PluginProcess,
        claims: ClaimSource,
        kubelet: Kubelet,
        *,
        loop: BackgroundLoop | None = None,
        cdi_dir: Path | None = None,
    ) -> None:
        self.plugin, self.claims, self.kubelet = plugin, claims, kubelet
        self.loop, self.cdi_dir = loop, cdi_dir

    @classmethod
    def start(
        cls,
        root: Path,
        driver: str = "file",
        *extra: str,
        driver_options: Mapping[str, Any] | None = None,
        driver_name: str = "",
        devices: Sequence[str] = (),
        node_name: str = "node-1",
        client: Client = "auto",
        consumed: Mapping[str, str] | None = None,
    ) -> PrepareRig:
        """``drafast run <driver>`` in ``dir:`` mode under ``root`` (CDI specs on tmpfs), claims
        for ``devices`` (default: every device it publishes) and the kubelet stand-in ``client``
        (``auto``: the Go one, built on first use when ``go`` is there, else the Python one);
        ``consumed``: what each claim consumes of a multi-allocatable device (see DirClaims)."""
        name = driver_name or find_kind(driver).default_driver_name
        loop = BackgroundLoop()
        cdi = tmpfs_dir("drafast-bench-cdi-")
        try:
            plugin = PluginProcess.start_driver(
                driver,
                root,
                loop,
                *extra,
                driver_options=driver_options,
                driver_name=driver_name,
                cdi_dir=cdi,
                node_name=node_name,
            )
        except BaseException:
            loop.close()
            shutil.rmtree(cdi, ignore_errors=True)
            raise
        try:
            store = root / "cluster"
            devs = list(devices) or published_devices(DirStore(store), name, node_name)
            claims = DirClaims(store, driver=name, pool=node_name, devices=devs, consumed=consumed)
            kubelet = open_kubelet(client, plugin.dra_socket, plugin.registration_socket, loop)
        except BaseException:
            plugin.stop()
            loop.close()
            shutil.rmtree(cdi, ignore_errors=True)
            raise
        return cls(plugin, claims, kubelet, loop=loop, cdi_dir=cdi)

    def rounds(self, claims: int, calls: int = 1, check: Check | None = None) -> PrepareRounds:
        return PrepareRounds(self, claims, calls, check)

    def bench_prepare(
        self,
        benchmark: Any,
        *,
        claims: int = 1,
        calls: int = 1,
        rounds: int = 100,
        warmup: int = 3,
        check: Check | None = None,
    ) -> PrepareRounds:
        """Time ``rounds`` prepares of ``claims`` new claims split into ``calls`` concurrent
        calls (after ``warmup`` untimed ones) with pytest-benchmark; unprepare each round's
        claims before the next; check every answer; record p50/p99 of both in extra_info."""
        r = self.rounds(claims, calls, check)
        r.run(benchmark, rounds, warmup)
        return r

    def leftover_cdi_specs(self) -> list[Path]:
        """CDI specs still in the rig's CDI dir (after every unprepare: none)."""
        return sorted(self.cdi_dir.iterdir()) if self.cdi_dir else []

    def close(self) -> None:
        """Stop the client and the plugin; the plugin must exit 0 on SIGTERM."""
        try:
            self.kubelet.close()
        finally:
            code = self.plugin.stop()
            if self.loop is not None:
                self.loop.close()
            if self.cdi_dir is not None:
                shutil.rmtree(self.cdi_dir, ignore_errors=True)
        if code != 0:
            raise AssertionError(f"the plugin exited with {code} on SIGTERM")

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class PrepareRounds:
    """Fresh claims for each round, split into ``calls`` concurrent calls of equal size."""

    def __init__(
        self, rig: PrepareRig, n_claims: int, calls: int, check: Check | None = None
    ) -> None:
        if n_claims % calls:
            raise ValueError(f"{n_claims} claims do not split into {calls} equal calls")
        self.rig, self.n, self.calls, self.check = rig, n_claims, calls, check
        self.groups: list[list[ClaimRef]] = []
        self.prepare_s: list[float] = []
        self.unprepare_s: list[float] = []

    def unprepare_current(self) -> None:
        """Unprepare the current round's claims (timed), checking every answer."""
        if not self.groups:
            return
        seconds, outs = self.rig.kubelet.unprepare(self.groups)
        self.unprepare_s.append(seconds)
        self._check(outs, prepared=False)
        self.groups = []

    def setup(self) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """pytest-benchmark's untimed setup: unprepare the last round, make this round's claims."""
        self.unprepare_current()
        refs = self.rig.claims(self.n)
        size = self.n // self.calls
        self.groups = [refs[i : i + size] for i in range(0, self.n, size)]
        return (), {}

    def prepare(self) -> None:
        """The timed round: every call at once, then every answer checked."""
        seconds, outs = self.rig.kubelet.prepare(self.groups)
        self.prepare_s.append(seconds)
        self._check(outs, prepared=True)

    def _check(self, outs: Results, *, prepared: bool) -> None:
        for group, out in zip(self.groups, outs, strict=True):
            assert set(out) == {r.uid for r in group}, "answers for other claims than asked"
            for r in group:
                a = out[r.uid]
                assert a.error == "", f"{r}: {a.error}"
                if prepared:
                    assert a.devices == 1, f"{r}: {a.devices} devices prepared, not 1"
                    if self.check:
                        self.check(r, a)

    def drive(self, rounds: int, warmup: int = 0) -> None:
        """The same rounds without pytest-benchmark (timings in ``prepare_s``/``unprepare_s``,
        warm-up rounds first); the last round's claims are unprepared too."""
        for _ in range(rounds + warmup):
            self.setup()
            self.prepare()
        self.unprepare_current()

    def run(self, benchmark: Any, rounds: int, warmup: int = 3) -> None:
        benchmark.pedantic(self.prepare, setup=self.setup, rounds=rounds + warmup, iterations=1)
        self.unprepare_current()
        un = percentiles(self.unprepare_s[warmup:])
        record(
            benchmark,
            self.prepare_s[warmup:],
            self.n,
            unprepare_p50_ms=un["p50_ms"],
            unprepare_p99_ms=un["p99_ms"],
            client=self.rig.kubelet.note,
        )
