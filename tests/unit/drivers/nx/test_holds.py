from drafast.drivers.nx.holds import Holds
from drafast.types import ClaimRef, ClaimUID, DeviceName

DEV = DeviceName("nx-gzip")


def ref(n: int) -> ClaimRef:
    return ClaimRef(namespace="ns", name=f"c{n}", uid=ClaimUID(f"u{n}"))


def test_exclusive_admits_one_claim_and_its_retries() -> None:
    h = Holds()
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
    h = Holds()
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


def test_restored_holds_count_like_new_ones() -> None:
    h = Holds()
    h.restore(ref(1), {DEV: 0})
    assert h.conflicts(ref(2), {DEV: 0}, {DEV: None}, exclusive=True)
