from pathlib import Path

from drafast import _native
from drafast.drivers.nx.holds import Holds, checkpointed_claims, holds_of
from drafast.types import ClaimRef, ClaimUID, DeviceName, PreparedClaim

DEV = DeviceName("nx-gzip")


def ref(n: int) -> ClaimRef:
    return ClaimRef(namespace="ns", name=f"c{n}", uid=ClaimUID(f"u{n}"))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_exclusive_admits_one_claim_and_its_retries() -> None:
    h = Holds(state_dir=None)
    assert h.conflicts(ref(1), {DEV: 0}, {DEV: None}, exclusive=True) == []
    h.acquire(ref(1), {DEV: 0})
    assert h.conflicts(ref(1), {DEV: 0}, {DEV: None}, exclusive=True) == []  # a retry
    [problem] = h.conflicts(ref(2), {DEV: 0}, {DEV: None}, exclusive=True)
    assert problem == (
        "device nx-gzip is in use by claim ns/c1 (u1) and this node shares it with no one "
        "(--nx-sharing exclusive)"
    )
    h.release(ClaimUID("u1"))
    h.release(ClaimUID("u1"))  # idempotent
    assert h.conflicts(ref(2), {DEV: 0}, {DEV: None}, exclusive=True) == []


def test_shared_counts_credits() -> None:
    h = Holds(state_dir=None)
    cap = {DEV: 10}
    h.acquire(ref(1), {DEV: 6})
    h.acquire(ref(2), {DEV: 3})
    assert h.conflicts(ref(3), {DEV: 1}, cap, exclusive=False) == []
    [problem] = h.conflicts(ref(3), {DEV: 2}, cap, exclusive=False)
    assert problem == (
        "device nx-gzip has 1 of 10 credits left, the claim needs 2 (2 other claims hold 9)"
    )
    # a claim asking again is not counted against itself
    assert h.conflicts(ref(1), {DEV: 7}, cap, exclusive=False) == []
    h.acquire(ref(1), {DEV: 7})
    assert sum(x.credits for x in h.holders(DEV).values()) == 10


def test_stale_holds_go_only_when_not_checkpointed_and_old() -> None:
    clock = Clock()
    h = Holds(state_dir=None, stale_after=30.0, clock=clock)
    h.acquire(ref(1), {DEV: 0})
    h.acquire(ref(2), {DEV: 0})
    h.restore(ref(3), {DEV: 0})
    clock.now += 10
    # u3 came from the checkpoint and is gone from it; u2 may be on its way to it
    assert h.drop_stale({ClaimUID("u1")}) == 1
    assert set(h.holders(DEV)) == {"u1", "u2"}
    clock.now += 30
    assert h.drop_stale({ClaimUID("u1")}) == 1
    assert set(h.holders(DEV)) == {"u1"}


def test_holds_of_prepared_state() -> None:
    assert holds_of(PreparedClaim(devices=(), state={"holds": {"nx-gzip": 2}})) == {DEV: 2}
    assert holds_of(PreparedClaim(devices=(), state={})) == {}
    assert holds_of(PreparedClaim(devices=(), state={"holds": {"x": "2"}})) == {}


def test_checkpointed_claims_reads_the_plugin_checkpoint(tmp_path: Path) -> None:
    assert checkpointed_claims(tmp_path) == set()
    ckpt = _native.Checkpoint(str(tmp_path / "checkpoint.json"))
    ckpt.commit([("u1", b"{}"), ("u2", b"{}")], [])
    assert checkpointed_claims(tmp_path) == {"u1", "u2"}
    assert Holds(state_dir=tmp_path).checkpointed_uids() == {"u1", "u2"}
    (tmp_path / "checkpoint.json").write_bytes(b"garbage")
    assert Holds(state_dir=tmp_path).checkpointed_uids() is None  # unknown: keep every hold
    assert Holds(state_dir=None).checkpointed_uids() is None
