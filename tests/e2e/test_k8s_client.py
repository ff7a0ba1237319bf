"""drafast.k8s against a real kube-apiserver: CRUD, conflicts, watches, claims, labels, status.

Every object gets a unique name so tests can run in any order next to the other e2e files.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from drafast.errors import ClaimNotFoundError
from drafast.k8s import (
    RESOURCE_V1,
    AlreadyExistsError,
    ApiRequestError,
    ClaimStatusWriter,
    Condition,
    ConflictError,
    DeviceStatus,
    GoneError,
    KubeAPI,
    KubeClaimSource,
    KubeSettings,
    NetworkData,
    NodeLabels,
    NotFoundError,
    claim_path,
    node_owner_reference,
    node_path,
    node_uid,
    slice_path,
)
from drafast.testing.cluster import ControlPlane
from drafast.types import ClaimRef, ClaimUID, DriverName, NodeName

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

DRIVER = "client.drafast.dev"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def api(control_plane: ControlPlane) -> AsyncIterator[KubeAPI]:
    async with KubeAPI(KubeSettings(kubeconfig=control_plane.kubeconfig)) as client:
        yield client


@pytest.fixture
def node(control_plane: ControlPlane) -> Iterator[str]:
    """A Node object of our own (no kubelet behind it), deleted afterwards."""
    name = unique("k8s-client")
    control_plane.api.create(
        "/api/v1/nodes",
        {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": {"a": "1"}}},
    )
    try:
        yield name
    finally:
        control_plane.kubectl("delete", "node", name, "--ignore-not-found", check=False)


@pytest.fixture
def namespace(control_plane: ControlPlane) -> Iterator[str]:
    name = unique("k8s-client")
    control_plane.api.create(
        "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    )
    try:
        yield name
    finally:
        control_plane.kubectl("delete", "namespace", name, "--wait=false", check=False)


def a_slice(name: str, node: str, devices: int = 1) -> dict[str, Any]:
    return {
        "apiVersion": RESOURCE_V1,
        "kind": "ResourceSlice",
        "metadata": {"name": name},
        "spec": {
            "driver": DRIVER,
            "nodeName": node,
            "pool": {"name": node, "generation": 0, "resourceSliceCount": 1},
            "devices": [
                {"name": f"dev-{i}", "attributes": {f"{DRIVER}/index": {"int": i}}}
                for i in range(devices)
            ],
        },
    }


async def test_slice_crud_conflict_and_errors(api: KubeAPI, node: str) -> None:
    name = unique("slice")
    created = await api.create(slice_path(), a_slice(name, node))
    try:
        assert (await api.get(slice_path(name)))["metadata"]["uid"] == created["metadata"]["uid"]

        changed = await api.get(slice_path(name))
        changed["spec"]["devices"].append({"name": "dev-9"})
        updated = await api.update(slice_path(name), changed)
        assert [d["name"] for d in updated["spec"]["devices"]] == ["dev-0", "dev-9"]
        assert updated["metadata"]["managedFields"][-1]["manager"] == "drafast"

        # The first read is stale now: the server refuses it.
        with pytest.raises(ConflictError) as err:
            await api.update(slice_path(name), created)
        assert err.value.status == 409
        assert str(err.value).startswith(f"resourceslices {name}: update failed: HTTP 409 Conflict")

        with pytest.raises(AlreadyExistsError):
            await api.create(slice_path(), a_slice(name, node))

        bad = a_slice(unique("bad"), node)
        bad["spec"]["devices"] = [{"name": "Not_A_Label"}]
        with pytest.raises(ApiRequestError) as invalid:
            await api.create(slice_path(), bad)
        assert invalid.value.status == 422
        assert "Not_A_Label" in invalid.value.api_message

        patched = await api.patch(slice_path(name), {"metadata": {"labels": {"x": "y"}}})
        assert patched["metadata"]["labels"] == {"x": "y"}
        listed = await api.list(slice_path(), label_selector={"x": "y"})
        assert [s["metadata"]["name"] for s in listed["items"]] == [name]

        # Preconditions: a stale resourceVersion keeps the object.
        stale = {"uid": created["metadata"]["uid"], "resourceVersion": "1"}
        with pytest.raises(ConflictError, match=r"ResourceVersion in the precondition \(1\)"):
            await api.delete(slice_path(name), preconditions=stale)
    finally:
        await api.delete(slice_path(name))
    with pytest.raises(NotFoundError, match=f"resourceslices {name}: get failed: HTTP 404"):
        await api.get(slice_path(name))
    assert api.stats.errors.get(409, 0) == 3
    assert api.stats.requests["create"] == 3


async def test_server_side_apply(api: KubeAPI, node: str) -> None:
    name = unique("apply")
    try:
        applied = await api.patch(slice_path(name), a_slice(name, node, devices=2), "apply")
        assert len(applied["spec"]["devices"]) == 2
        again = await api.patch(slice_path(name), a_slice(name, node, devices=2), "apply")
        assert again["metadata"]["resourceVersion"] == applied["metadata"]["resourceVersion"]
    finally:
        await api.delete(slice_path(name))


async def test_list_pages_and_watch_events(control_plane: ControlPlane, node: str) -> None:
    settings = KubeSettings(kubeconfig=control_plane.kubeconfig, list_page_size=2)
    fields = {"spec.driver": DRIVER, "spec.nodeName": node}
    async with KubeAPI(settings) as api:
        names = [unique(f"w{i}") for i in range(3)]
        for n in names:
            await api.create(slice_path(), a_slice(n, node))
        listed = await api.list(slice_path(), field_selector=fields)
        assert sorted(s["metadata"]["name"] for s in listed["items"]) == sorted(names)
        assert api.stats.requests["list"] == 2, "three items in pages of two"

        events: list[tuple[str, str]] = []

        async def watch() -> None:
            rv = listed["metadata"]["resourceVersion"]
            async for ev in api.watch(slice_path(), resource_version=rv, field_selector=fields):
                events.append((ev["type"], ev["object"]["metadata"]["name"]))
                if len(events) == 3:
                    return

        task = asyncio.create_task(watch(), name="e2e-watch")
        await api.create(slice_path(), a_slice(unique("other"), unique("other-node")))  # filtered
        await api.patch(slice_path(names[0]), {"metadata": {"labels": {"seen": "yes"}}})
        await api.delete(slice_path(names[1]))
        extra = unique("w3")
        await api.create(slice_path(), a_slice(extra, node))
        async with asyncio.timeout(30):
            await task
        assert events == [("MODIFIED", names[0]), ("DELETED", names[1]), ("ADDED", extra)]
        for n in [names[0], names[2], extra]:
            await api.delete(slice_path(n))


async def test_owner_reference_to_the_node(api: KubeAPI, node: str) -> None:
    uid = await node_uid(api, NodeName(node))
    body = a_slice(unique("owned"), node)
    body["metadata"]["ownerReferences"] = [node_owner_reference(NodeName(node), uid)]
    created = await api.create(slice_path(), body)
    assert created["metadata"]["ownerReferences"][0]["uid"] == uid
    await api.delete(slice_path(created["metadata"]["name"]))


async def test_claim_source(api: KubeAPI, namespace: str) -> None:
    claim = {
        "apiVersion": RESOURCE_V1,
        "kind": "ResourceClaim",
        "metadata": {"name": "c1"},
        "spec": {"devices": {"requests": [{"name": "r", "exactly": {"deviceClassName": "x"}}]}},
    }
    created = await api.create(f"/apis/{RESOURCE_V1}/namespaces/{namespace}/resourceclaims", claim)
    ref = ClaimRef(namespace=namespace, name="c1", uid=ClaimUID(created["metadata"]["uid"]))
    got = await KubeClaimSource(api).get_claim(ref)
    assert got["metadata"]["uid"] == ref.uid
    assert got["spec"] == created["spec"]
    missing = ClaimRef(namespace=namespace, name="nope", uid=ClaimUID("u"))
    with pytest.raises(ClaimNotFoundError, match=f"claim {namespace}/nope"):
        await KubeClaimSource(api).get_claim(missing)


async def test_node_labels(api: KubeAPI, node: str) -> None:
    labels = NodeLabels(api, NodeName(node))
    assert await labels.reconcile({"nx.drafast.dev/present": "true", "nx.drafast.dev/n": "2"})
    assert not await labels.reconcile({"nx.drafast.dev/present": "true", "nx.drafast.dev/n": "2"})
    assert await labels.reconcile({"nx.drafast.dev/n": "3"})
    stored = (await api.get(node_path(node)))["metadata"]
    assert stored["labels"] == {"a": "1", "nx.drafast.dev/n": "3"}
    assert stored["annotations"]["drafast.dev/owned-labels"] == "nx.drafast.dev/n"
    assert await labels.reconcile({})
    stored = (await api.get(node_path(node)))["metadata"]
    assert stored["labels"] == {"a": "1"}
    assert "drafast.dev/owned-labels" not in (stored.get("annotations") or {})


async def test_device_status_on_an_allocated_claim(api: KubeAPI, namespace: str, node: str) -> None:
    driver = DriverName(DRIVER)
    path = claim_path(namespace, "allocated")
    claim = {
        "apiVersion": RESOURCE_V1,
        "kind": "ResourceClaim",
        "metadata": {"name": "allocated"},
        "spec": {"devices": {"requests": [{"name": "r", "exactly": {"deviceClassName": "x"}}]}},
    }
    created = await api.create(f"/apis/{RESOURCE_V1}/namespaces/{namespace}/resourceclaims", claim)
    # Allocate by hand, as the scheduler would (admin may write status.allocation).
    created["status"] = {
        "allocation": {
            "devices": {
                "results": [
                    {"request": "r", "driver": DRIVER, "pool": node, "device": "dev-0"},
                    {"request": "r", "driver": "other.drafast.dev", "pool": node, "device": "o"},
                ]
            }
        },
        "devices": [
            {
                "driver": "other.drafast.dev",
                "pool": node,
                "device": "o",
                "data": {"theirs": True},
            }
        ],
    }
    await api.update(f"{path}/status", created)
    ref = ClaimRef(namespace=namespace, name="allocated", uid=ClaimUID(created["metadata"]["uid"]))

    writer = ClaimStatusWriter(api, driver)
    ready = Condition(type="Ready", status="True", reason="Prepared", message="ok")
    net = NetworkData(interface_name="net1", ips=("192.0.2.5/24",), hardware_address="aa:bb:cc")
    update = DeviceStatus(
        pool=node, device="dev-0", conditions=[ready], data={"k": "v"}, network_data=net
    )
    assert await writer.set(ref, [update])
    assert not await writer.set(ref, [update]), "no change, no write"

    devices = (await api.get(path))["status"]["devices"]
    # The server spells absent conditions as null.
    assert {k: v for k, v in devices[0].items() if v is not None} == {
        "driver": "other.drafast.dev",
        "pool": node,
        "device": "o",
        "data": {"theirs": True},
    }
    mine = devices[1]
    assert mine["conditions"][0]["status"] == "True"
    assert mine["data"] == {"k": "v"}
    assert mine["networkData"] == {
        "interfaceName": "net1",
        "ips": ["192.0.2.5/24"],
        "hardwareAddress": "aa:bb:cc",
    }
    first_time = mine["conditions"][0]["lastTransitionTime"]

    attached = Condition(type="Attached", status="False", reason="Waiting")
    assert await writer.set(ref, [DeviceStatus(pool=node, device="dev-0", conditions=[attached])])
    conds = {c["type"]: c for c in (await api.get(path))["status"]["devices"][1]["conditions"]}
    assert set(conds) == {"Ready", "Attached"}
    assert conds["Ready"]["lastTransitionTime"] == first_time

    assert await writer.remove(ref)
    assert [d["driver"] for d in (await api.get(path))["status"]["devices"]] == [
        "other.drafast.dev"
    ]


async def test_requests_survive_an_apiserver_restart(
    control_plane: ControlPlane, node: str
) -> None:
    """Reads are retried through a restart. The watch resumes from its resourceVersion -- which
    the restarted server may no longer serve (its watch cache starts afresh): then it raises
    GoneError and the caller re-lists, as the watch contract says."""
    settings = KubeSettings(
        kubeconfig=control_plane.kubeconfig,
        max_attempts=100,
        retry_deadline_seconds=120,
        backoff_max_seconds=1.0,
    )
    fields = {"spec.nodeName": node}
    async with KubeAPI(settings) as api:
        name = unique("restart")
        listed = await api.list(slice_path(), field_selector=fields)
        seen: list[str] = []

        async def informer() -> None:
            rv = listed["metadata"]["resourceVersion"]
            while True:
                try:
                    async for ev in api.watch(
                        slice_path(), resource_version=rv, field_selector=fields
                    ):
                        seen.append(f"{ev['type']} {ev['object']['metadata']['name']}")
                        return
                except GoneError:
                    seen.append("GONE")
                    relisted = await api.list(slice_path(), field_selector=fields)
                    if relisted["items"]:
                        seen.append(f"LISTED {relisted['items'][0]['metadata']['name']}")
                        return
                    rv = relisted["metadata"]["resourceVersion"]

        task = asyncio.create_task(informer(), name="e2e-restart-watch")
        await asyncio.sleep(0.5)
        restart = asyncio.create_task(
            asyncio.to_thread(control_plane.restart_apiserver, 1.0), name="e2e-restart"
        )
        await asyncio.sleep(0.5)  # the apiserver is down now
        got = await api.get(node_path(node))  # retried until it is back
        assert got["metadata"]["name"] == node
        await restart
        await api.create(slice_path(), a_slice(name, node))
        async with asyncio.timeout(60):
            await task
        assert seen[-1] in {f"ADDED {name}", f"LISTED {name}"}, seen
        assert api.stats.requests["watch"] >= 2, "the watch was re-opened after the restart"
        assert api.stats.retries >= 1
        assert api.stats.errors.get(0, 0) >= 1, "connection errors were counted"
        await api.delete(slice_path(name))
