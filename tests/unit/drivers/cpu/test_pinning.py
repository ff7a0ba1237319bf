import pytest

from drafast.drivers.cpu.allocations import Allocations
from drafast.drivers.cpu.pinning import Pinning, claim_env
from drafast.errors import CpuAllocationError
from drafast.types import ClaimUID, ContainerRef, ContainerUpdate

A, B = ClaimUID("aaaa-1"), ClaimUID("bbbb-2")


def setup(online: int = 8, reserved: frozenset[int] = frozenset({0})) -> Pinning:
    return Pinning(Allocations(online=frozenset(range(online)), reserved=reserved))


def ctr(cid: str, *claims: tuple[ClaimUID, str], cpus: str = "") -> ContainerRef:
    env = {"PATH": "/bin"} | {f"DRA_CPUSET_{uid}": text for uid, text in claims}
    return ContainerRef(
        id=cid, name=cid, pod_uid="p", pod_namespace="ns", pod_name="pod", env=env, cpuset_cpus=cpus
    )


def take(p: Pinning, uid: ClaimUID, cpus: set[int]) -> None:
    p._alloc.take(uid, frozenset(cpus), what=str(uid))


def test_env_var_is_what_prepare_writes() -> None:
    assert claim_env(A, frozenset({4, 5, 68, 69})) == "DRA_CPUSET_aaaa-1=4-5,68-69"


def test_shared_containers_get_the_pool_and_pinned_ones_their_claim() -> None:
    p = setup()
    assert p.create(ctr("s1")).cpuset_cpus == "1-7"
    take(p, A, {2, 3})
    adj = p.create(ctr("x", (A, "2-3")))
    assert adj.cpuset_cpus == "2-3"
    assert adj.updates == (ContainerUpdate(container_id="s1", cpuset_cpus="1,4-7"),)
    assert p.create(ctr("s2")).cpuset_cpus == "1,4-7"


def test_a_new_shared_container_never_starts_on_a_prepared_claims_cpus() -> None:
    """containerd drops updates for a container it is still creating: a shared container created
    while a claim's container is being started could keep the claim's CPUs. So a new shared
    container starts without the CPUs of any prepared claim, active or not."""
    p = setup()
    take(p, A, {2, 3})  # prepared; its container not created yet
    assert p.create(ctr("s1")).cpuset_cpus == "1,4-7"
    adj = p.create(ctr("x", (A, "2-3")))
    assert adj.updates == ()  # nothing to take back


def test_with_every_cpu_prepared_a_shared_container_borrows_inactive_claims_cpus() -> None:
    p = setup(online=2, reserved=frozenset())
    take(p, A, {0})
    take(p, B, {1})
    assert p.create(ctr("s1")).cpuset_cpus == "0-1"  # neither claim runs yet: refuse no one
    adj = p.create(ctr("x", (A, "0")))
    assert adj.updates == (ContainerUpdate(container_id="s1", cpuset_cpus="1"),)


def test_stop_of_the_last_pinned_container_widens_the_pool_at_once() -> None:
    p = setup()
    p.create(ctr("s1"))
    take(p, A, {2, 3})
    p.create(ctr("x", (A, "2-3")))
    p.create(ctr("y", (A, "2-3")))  # a second container of the claim
    assert p.stopped(ctr("x")) == []  # y still runs on the claim
    assert p.stopped(ctr("y")) == [ContainerUpdate(container_id="s1", cpuset_cpus="1-7")]
    assert p.stopped(ctr("y")) == []  # a repeated stop changes nothing
    # restarted in the pod: the pool shrinks again before it starts
    assert p.create(ctr("x2", (A, "2-3"))).updates == (
        ContainerUpdate(container_id="s1", cpuset_cpus="1,4-7"),
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ((B, "2-3"), "names claim 'bbbb-2', which this driver has not prepared"),
        ((A, "2-4"), "DRA_CPUSET_aaaa-1=2-4 does not match the claim's CPUs 2-3"),
        ((A, "x"), "DRA_CPUSET_aaaa-1: cpulist 'x'"),
    ],
)
def test_forged_or_stale_env_is_refused(env: tuple[ClaimUID, str], message: str) -> None:
    p = setup()
    take(p, A, {2, 3})
    with pytest.raises(CpuAllocationError, match="container ns/pod/c1 \\(c1\\): .*" + message[:20]):
        p.create(ctr("c1", env))
    assert p.live_shared() == []


def test_fail_closed_never_an_empty_cpuset() -> None:
    p = setup(online=2, reserved=frozenset())
    p.create(ctr("s1"))
    take(p, A, {0})
    with pytest.raises(CpuAllocationError, match="taking CPUs 1 would leave no CPU for the 1"):
        p.check_room("claim b", frozenset({1}))
    take(p, B, {1})  # e.g. prepared before the plugin knew of any shared container
    p.create(ctr("x", (A, "0")))
    with pytest.raises(CpuAllocationError, match="pinning CPUs 1 would leave no CPU for the 1"):
        p.create(ctr("y", (B, "1")))
    assert p.active_claims() == {A}  # the refused container left nothing behind
    p.stopped(ctr("s1"))
    assert p.create(ctr("y", (B, "1"))).cpuset_cpus == "1"  # no shared container runs now
    with pytest.raises(CpuAllocationError, match="no CPU left for shared containers"):
        p.create(ctr("s2"))


def test_synchronize_rebuilds_state_and_corrects_drift() -> None:
    p = setup()
    take(p, A, {2, 3})
    updates = p.synchronize(
        [
            ctr("x", (A, "2-3"), cpus="0-7"),  # started while the plugin was away: unpinned
            ctr("s1", cpus="0-7"),
            ctr("s2", cpus="1,4-7"),  # already right
            ctr("f", (B, "4"), cpus="4"),  # forged: confined to the pool
        ]
    )
    assert updates == [
        ContainerUpdate(container_id="x", cpuset_cpus="2-3"),
        ContainerUpdate(container_id="s1", cpuset_cpus="1,4-7"),
        ContainerUpdate(container_id="f", cpuset_cpus="1,4-7"),
    ]
    assert p.active_claims() == {A}
    assert p.synchronize([ctr("x", (A, "2-3"), cpus="2-3")]) == []


def test_removed_forgets_the_container() -> None:
    p = setup()
    p.create(ctr("s1"))
    p.removed(ctr("s1"))
    assert p.live_shared() == []
