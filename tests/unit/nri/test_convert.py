"""NRI protos <-> ContainerRef / ContainerUpdate / ContainerAdjustment."""

from __future__ import annotations

import logging

import pytest

from drafast.errors import PermanentError
from drafast.nri import convert
from drafast.nri.proto import api_pb2 as api
from drafast.types import ContainerAdjustment, ContainerUpdate


def pod(uid: str = "u1") -> api.PodSandbox:
    return api.PodSandbox(id=f"sb-{uid}", name="web", uid=uid, namespace="ns")


def container(**kw: object) -> api.Container:
    c = api.Container(id="c1", pod_sandbox_id="sb-u1", name="app", **kw)  # type: ignore[arg-type]
    return c


def test_env_list_becomes_a_mapping() -> None:
    env = ["A=1", "B=x=y", "C", "A=2", "D="]
    assert convert.env_mapping(env) == {"A": "2", "B": "x=y", "C": "", "D": ""}


def test_container_ref_carries_pod_env_cpuset_and_state() -> None:
    c = container(
        env=["DRA_CPUSET_abc=2-3", "PATH=/bin"],
        annotations={"k": "v"},
        state=api.CONTAINER_RUNNING,
    )
    c.linux.resources.cpu.cpus = "0-7"
    c.linux.resources.cpu.mems = "0"
    ref = convert.container_ref(c, pod())
    assert (ref.id, ref.name, ref.pod_uid, ref.pod_namespace, ref.pod_name) == (
        "c1",
        "app",
        "u1",
        "ns",
        "web",
    )
    assert ref.env == {"DRA_CPUSET_abc": "2-3", "PATH": "/bin"}
    assert ref.annotations == {"k": "v"}
    assert (ref.cpuset_cpus, ref.cpuset_mems, ref.state) == ("0-7", "0", "running")


@pytest.mark.parametrize(
    ("state", "name"),
    [
        (api.CONTAINER_UNKNOWN, ""),
        (api.CONTAINER_CREATED, "created"),
        (api.CONTAINER_PAUSED, "paused"),
        (api.CONTAINER_STOPPED, "stopped"),
    ],
)
def test_states(state: int, name: str) -> None:
    assert convert.container_ref(container(state=state), pod()).state == name


def test_sync_containers_find_their_pods_by_sandbox_id() -> None:
    lost = api.Container(id="c2", pod_sandbox_id="gone")
    refs = convert.container_refs([container(), lost], [pod("u1"), pod("u9")])
    assert [(r.id, r.pod_uid) for r in refs] == [("c1", "u1"), ("c2", "")]


def test_update_sets_only_what_is_given() -> None:
    u = convert.update_proto(ContainerUpdate(container_id="c1", cpuset_cpus="0-3"))
    assert u is not None
    assert u.container_id == "c1"
    assert (u.linux.resources.cpu.cpus, u.linux.resources.cpu.mems) == ("0-3", "")
    assert not u.linux.resources.HasField("memory")


def test_an_update_that_changes_nothing_is_dropped(caplog: pytest.LogCaptureFixture) -> None:
    assert convert.update_proto(ContainerUpdate(container_id="c1")) is None
    with caplog.at_level(logging.WARNING):
        assert convert.update_proto(ContainerUpdate(container_id="c7", cpuset_cpus="")) is None
    assert [r.container_id for r in caplog.records] == ["c7"]  # type: ignore[attr-defined]


def test_adjustment_reply_carries_cpuset_env_annotations_and_other_updates() -> None:
    reply = convert.adjustment_proto(
        "c1",
        ContainerAdjustment(
            cpuset_cpus="4-5",
            cpuset_mems="0",
            env={"X": "1"},
            annotations={"a": "b"},
            updates=(
                ContainerUpdate(container_id="c2", cpuset_cpus="0-3"),
                ContainerUpdate(container_id="c3"),
            ),
        ),
    )
    cpu = reply.adjust.linux.resources.cpu
    assert (cpu.cpus, cpu.mems) == ("4-5", "0")
    assert [(kv.key, kv.value) for kv in reply.adjust.env] == [("X", "1")]
    assert dict(reply.adjust.annotations) == {"a": "b"}
    assert [u.container_id for u in reply.update] == ["c2"]


def test_an_empty_adjustment_sets_nothing() -> None:
    reply = convert.adjustment_proto("c1", ContainerAdjustment())
    assert reply.SerializeToString() == b""


def test_an_empty_cpuset_adjustment_is_refused_naming_the_container() -> None:
    with pytest.raises(PermanentError, match="container c1: empty cpuset"):
        convert.adjustment_proto("c1", ContainerAdjustment(cpuset_cpus=""))


def test_runtime_side_helpers_round_trip() -> None:
    updates = [ContainerUpdate(container_id="c1", cpuset_cpus="1", cpuset_mems="0")]
    assert convert.updates_from(convert.update_protos(updates)) == updates
    assert convert.env_mapping(convert.env_entries({"A": "1", "B": "x=y"})) == {
        "A": "1",
        "B": "x=y",
    }
