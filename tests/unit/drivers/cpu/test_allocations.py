import pytest

from drafast.drivers.cpu.allocations import Allocations
from drafast.errors import CpuAllocationError
from drafast.types import ClaimUID

A, B = ClaimUID("a"), ClaimUID("b")


def table() -> Allocations:
    return Allocations(online=frozenset(range(8)), reserved=frozenset({0}))


def test_take_and_release() -> None:
    t = table()
    t.take(A, frozenset({1, 2}), what="claim a")
    assert t.claims == {A: {1, 2}}
    assert t.free == {3, 4, 5, 6, 7}
    assert t.release(A) == {1, 2}
    assert t.free == set(range(1, 8))
    assert t.release(A) == frozenset()  # idempotent


def test_no_cpu_in_two_claims() -> None:
    t = table()
    t.take(A, frozenset({1, 2}), what="claim a")
    with pytest.raises(CpuAllocationError, match="claim b: CPUs 2 are taken by claim a"):
        t.take(B, frozenset({2, 3}), what="claim b")
    assert t.claims == {A: {1, 2}}  # nothing changed


def test_reserved_and_offline_are_refused_with_the_reason() -> None:
    t = table()
    with pytest.raises(CpuAllocationError, match="CPUs 9 are not online; CPUs 0 are reserved"):
        t.take(A, frozenset({0, 9}), what="claim a")


def test_retake_by_the_same_claim_replaces_its_cpus() -> None:
    t = table()
    t.take(A, frozenset({1, 2}), what="claim a")
    t.take(A, frozenset({2, 3}), what="claim a")
    assert t.claims == {A: {2, 3}} and t.taken == {2, 3}
