"""LeaseElector: client-go leader election on a coordination.k8s.io/v1 Lease."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from drafast.errors import ConfigError
from drafast.k8s import KubeAPI, KubeSettings
from drafast.k8s.lease import LeaseElector, LeaseLostError, lease_path, micro_time, parse_time
from drafast.testing.fakeapi import FakeAPIServer

LEASE = lease_path("kube-system", "drafast-controller")
T0 = datetime(2026, 1, 1, tzinfo=UTC)


class Clock:
    """Wall time for the lease record, moved by the test; waits stay real (and short)."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
async def api(server: FakeAPIServer, tmp_path: Path) -> AsyncIterator[KubeAPI]:
    settings = KubeSettings(kubeconfig=server.kubeconfig(tmp_path / "kc"), max_attempts=1)
    async with KubeAPI(settings) as client:
        yield client


@pytest.fixture
def clock() -> Clock:
    return Clock()


def elector(api: KubeAPI, clock: Clock, identity: str, **kw: Any) -> LeaseElector:
    timing = {"lease_duration": 15.0, "renew_deadline": 0.3, "retry_period": 0.02} | kw
    return LeaseElector(
        api, "kube-system", "drafast-controller", identity, clock=clock, rng=lambda: 0.0, **timing
    )


def spec(server: FakeAPIServer) -> dict[str, Any]:
    s: dict[str, Any] = server.objects[LEASE]["spec"]
    return s


def test_micro_time_is_what_the_api_server_writes() -> None:
    t = datetime(2006, 1, 2, 15, 4, 5, tzinfo=UTC)
    assert micro_time(t) == "2006-01-02T15:04:05.000000Z"
    assert parse_time("2006-01-02T15:04:05.000000Z") == t
    assert parse_time("2006-01-02T15:04:05Z") == t
    assert parse_time("yesterday") is None


def test_timing_is_checked(api: KubeAPI, clock: Clock) -> None:
    with pytest.raises(ConfigError, match="lease kube-system/drafast-controller: need"):
        elector(api, clock, "a", lease_duration=5.0, renew_deadline=10.0)
    with pytest.raises(ConfigError, match="identity must not be empty"):
        elector(api, clock, "")


async def test_one_wins_the_other_takes_over_on_release(
    api: KubeAPI, server: FakeAPIServer, clock: Clock
) -> None:
    a, b = elector(api, clock, "pod-a"), elector(api, clock, "pod-b")
    async with a.leadership() as lost:
        assert a.is_leader
        assert spec(server) == {
            "holderIdentity": "pod-a",
            "leaseDurationSeconds": 15,
            "acquireTime": "2026-01-01T00:00:00.000000Z",
            "renewTime": "2026-01-01T00:00:00.000000Z",
            "leaderTransitions": 0,
        }
        assert not await b.try_acquire_or_renew()
        assert b.holder == "pod-a"
        waiting = asyncio.create_task(b.acquire(), name="candidate-b")
        clock.advance(1)
        await asyncio.sleep(0.15)  # several renewals by a, several tries by b
        assert not waiting.done()
        assert spec(server)["renewTime"] == "2026-01-01T00:00:01.000000Z"
        assert spec(server)["acquireTime"] == "2026-01-01T00:00:00.000000Z"
        assert not lost.is_set()
    assert not a.is_leader
    assert not spec(server).get("holderIdentity")  # released: b need not wait for expiry
    async with asyncio.timeout(2):
        await waiting  # at once, not after 15 s
    assert spec(server)["holderIdentity"] == "pod-b"
    assert spec(server)["leaderTransitions"] == 1
    await b.release()


async def test_takes_over_an_expired_lease(
    api: KubeAPI, server: FakeAPIServer, clock: Clock
) -> None:
    a, b = elector(api, clock, "pod-a"), elector(api, clock, "pod-b")
    assert await a.try_acquire_or_renew()  # ... and then a dies without releasing
    clock.advance(15)
    assert not await b.try_acquire_or_renew()  # renewTime + 15 s is not yet past
    clock.advance(0.001)
    assert await b.try_acquire_or_renew()
    assert spec(server)["holderIdentity"] == "pod-b"
    assert spec(server)["leaderTransitions"] == 1
    assert spec(server)["acquireTime"] == "2026-01-01T00:00:15.001000Z"


async def test_a_race_has_one_winner(api: KubeAPI, server: FakeAPIServer, clock: Clock) -> None:
    electors = [elector(api, clock, f"pod-{i}") for i in range(4)]
    won = await asyncio.gather(*(e.try_acquire_or_renew() for e in electors))
    assert sorted(won) == [False, False, False, True]
    assert spec(server)["holderIdentity"] == f"pod-{won.index(True)}"


async def test_a_stale_write_loses_on_the_resource_version(
    api: KubeAPI, server: FakeAPIServer, clock: Clock
) -> None:
    a, b = elector(api, clock, "pod-a"), elector(api, clock, "pod-b")
    assert await a.try_acquire_or_renew()
    clock.advance(20)
    stale = await api.get(LEASE)
    assert await b.try_acquire_or_renew()  # b takes it ...
    stale["spec"]["holderIdentity"] = "pod-c"
    with pytest.raises(Exception, match="409"):
        await api.update(LEASE, stale)  # ... and a write based on the older read fails
    assert spec(server)["holderIdentity"] == "pod-b"


async def test_a_lost_renewal_stops_the_leader(
    api: KubeAPI, server: FakeAPIServer, clock: Clock
) -> None:
    a = elector(api, clock, "pod-a")
    started, stopped = asyncio.Event(), asyncio.Event()

    async def lead() -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        finally:
            stopped.set()

    leader = asyncio.create_task(a.run(lead), name="leader-a")
    await started.wait()
    server.fail("GET", LEASE, 403, times=10_000)  # a cannot renew any more ...
    with pytest.raises(LeaseLostError, match=r"pod-a lost leadership: not renewed within 0.3s"):
        async with asyncio.timeout(3):
            await leader
    assert stopped.is_set()  # ... so its work was cancelled
    assert not a.is_leader
    assert spec(server)["holderIdentity"] == "pod-a"  # b takes over once it expires


async def test_someone_else_holding_it_stops_the_leader(
    api: KubeAPI, server: FakeAPIServer, clock: Clock
) -> None:
    a = elector(api, clock, "pod-a")
    async with a.leadership() as lost:
        lease = await api.get(LEASE)
        lease["spec"]["holderIdentity"] = "pod-z"  # e.g. a's clock was far behind
        await api.update(LEASE, lease)
        async with asyncio.timeout(3):
            await lost.wait()
        assert not a.is_leader
    assert spec(server)["holderIdentity"] == "pod-z"  # not released: it is not ours


async def test_run_returns_and_releases_when_lead_returns(
    api: KubeAPI, server: FakeAPIServer, clock: Clock
) -> None:
    a = elector(api, clock, "pod-a")
    ran = []

    async def lead() -> None:
        ran.append(a.is_leader)

    await a.run(lead)
    assert ran == [True]
    assert not spec(server).get("holderIdentity")
    assert spec(server)["leaseDurationSeconds"] == 1
