"""The NRI runtime stand-in applies results like containerd: unknown IDs skipped, an empty
cpuset is "unchanged", adjustments add env; big syncs are paged with ``more``."""

from __future__ import annotations

from drafast.nri import convert
from drafast.nri.proto import api_pb2 as api
from drafast.testing.nri.store import RuntimeContainer, Store, adjusted, paged
from drafast.types import ContainerUpdate


def test_updates_skip_unknown_ids_and_treat_an_empty_cpuset_as_unchanged() -> None:
    store = Store()
    c = RuntimeContainer(id="c1", pod_id="sb", name="app", cpus="0-7", mems="0")
    store.containers[c.id] = c
    empty = api.ContainerUpdate(container_id="c1")
    empty.linux.resources.cpu.cpus = ""
    unknown = convert.update_protos([ContainerUpdate(container_id="nope", cpuset_cpus="1")])
    assert store.apply([empty, *unknown]) == ["nope"]
    assert store.containers["c1"].cpus == "0-7"
    store.apply(convert.update_protos([ContainerUpdate(container_id="c1", cpuset_cpus="2")]))
    assert (store.containers["c1"].cpus, store.containers["c1"].mems) == ("2", "0")


def test_an_adjustment_sets_cpuset_env_and_annotations() -> None:
    c = RuntimeContainer(id="c1", pod_id="sb", name="app", env={"A": "1"}, cpus="0-7")
    adjust = api.ContainerAdjustment(annotations={"x": "y"})
    adjust.env.add(key="B", value="2")
    adjust.linux.resources.cpu.cpus = "3"
    got = adjusted(c, adjust)
    assert (got.cpus, dict(got.env), dict(got.annotations)) == (
        "3",
        {"A": "1", "B": "2"},
        {"x": "y"},
    )


def test_a_stopped_container_is_not_synchronized() -> None:
    store = Store()
    store.containers["a"] = RuntimeContainer(id="a", pod_id="sb", name="a")
    store.containers["b"] = RuntimeContainer(
        id="b", pod_id="sb", name="b", state=api.CONTAINER_STOPPED
    )
    store.pod("p")
    pods, containers = store.live()
    assert [p.id for p in pods] == ["sb-p"]
    assert [c.id for c in containers] == ["a"]


def test_paging_keeps_every_item_in_order_and_marks_all_but_the_last() -> None:
    pods = [api.PodSandbox(id=f"p{i}") for i in range(3)]
    containers = [api.Container(id=f"c{i}", env=["X=" + "x" * 100]) for i in range(30)]
    chunks = paged(pods, containers, 1000)
    assert len(chunks) > 3
    assert [c.more for c in chunks] == [True] * (len(chunks) - 1) + [False]
    assert all(c.ByteSize() <= 1000 for c in chunks)
    assert [p.id for c in chunks for p in c.pods] == ["p0", "p1", "p2"]
    assert [x.id for c in chunks for x in c.containers] == [f"c{i}" for i in range(30)]


def test_a_sync_under_the_limit_or_without_one_is_one_request() -> None:
    store = Store()
    for i in range(20):
        store.containers[f"c{i}"] = RuntimeContainer(id=f"c{i}", pod_id="sb", name="x" * 200)
    assert [r.more for r in store.sync_requests(None)] == [False]
    assert [r.more for r in store.sync_requests(1 << 20)] == [False]
    assert len(store.sync_requests(1000)) > 1
