"""The NX-gzip driver against the real control plane: a fixture host root (a PowerVM LPAR with
NX, and a stand-in character device with /dev/null's numbers) makes the driver publish an NX
device; the real scheduler allocates it to a pod from the deploy/ example; the test plays the
kubelet and checks the CDI edits the container would get."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import orjson
import pytest
import yaml
from nx_fixture import trees

from drafast.testing import plugin_options, running_plugin, wait_until
from drafast.testing.cluster import ControlPlane
from drafast.types import ClaimRef, ClaimUID

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

DRIVER = "nx.drafast.dev"
NS = "drafast-nx-e2e"
V1 = "/apis/resource.k8s.io/v1"
DEPLOY = Path(__file__).parents[2] / "deploy" / "nx"


async def test_nx_device_is_published_allocated_and_prepared(
    tmp_path: Path, control_plane: ControlPlane, ready_node: str
) -> None:
    cp = control_plane
    root = trees.build("lpar-nx", tmp_path / "host")
    assert trees.make_device_node(root, 1, 3), "mknod needs root"
    opts = replace(
        plugin_options(
            tmp_path,
            driver="nx",
            driver_name=DRIVER,
            node_name=ready_node,
            driver_options={"host_root": str(root)},
        ),
        cluster="kube",
        kubeconfig=cp.kubeconfig,
    )
    manifests = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}},
        *yaml.safe_load_all((DEPLOY / "deviceclass.yaml").read_text()),
        *[
            {**m, "metadata": {**m["metadata"], "namespace": NS}}
            for m in yaml.safe_load_all((DEPLOY / "example-exclusive.yaml").read_text())
        ],
    ]
    pod_name = next(m["metadata"]["name"] for m in manifests if m["kind"] == "Pod")
    pod_path = f"/api/v1/namespaces/{NS}/pods/{pod_name}"
    try:
        async with running_plugin(opts) as t:
            await wait_until("the first publish", lambda: t.plugin.cluster.published)
            sel = f"spec.driver={DRIVER},spec.nodeName={ready_node}"
            [sl] = cp.api.get(f"{V1}/resourceslices?fieldSelector={sel}")["items"]
            [dev] = sl["spec"]["devices"]
            assert dev["name"] == "nx-gzip"
            assert dev["attributes"]["platform"] == {"string": "powervm"}

            cp.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(manifests))
            statuses = await wait_until(
                "the pod's claim",
                lambda: cp.api.get(pod_path).get("status", {}).get("resourceClaimStatuses"),
            )
            claim_path = f"{V1}/namespaces/{NS}/resourceclaims/{statuses[0]['resourceClaimName']}"
            claim = await wait_until(
                "allocation + reservation",
                lambda: (c := cp.api.get(claim_path)).get("status", {}).get("reservedFor") and c,
            )
            [result] = claim["status"]["allocation"]["devices"]["results"]
            assert (result["driver"], result["device"]) == (DRIVER, "nx-gzip")

            uid = claim["metadata"]["uid"]
            ref = ClaimRef(namespace=NS, name=claim["metadata"]["name"], uid=ClaimUID(uid))
            res = (await t.kubelet.prepare([ref]))[uid]
            assert res.error == ""
            spec = orjson.loads(t.plugin.cdi.path(uid).read_bytes())
            edits = spec["devices"][0]["containerEdits"]
            [node] = edits["deviceNodes"]
            assert (node["path"], node["type"], node["major"], node["minor"]) == (
                "/dev/crypto/nx-gzip",
                "c",
                1,
                3,
            )
            assert node["permissions"] == "rw"
            env = dict(e.split("=", 1) for e in edits["env"])
            assert env["NX_DEVICE"] == "nx-gzip"
            # the example's NxConfig (from the claim template, via the allocation) reached us
            assert env["NX_DEVICE_SHARING_STRATEGY"] == "TimeSlicing"
            assert env["NX_DEVICE_TIMESLICE_INTERVAL"] == "Long"

            cp.api.delete(pod_path, grace_seconds=0)
            assert (await t.kubelet.unprepare([ref]))[uid].error == ""
            assert not t.plugin.cdi.path(uid).exists()
    finally:
        cp.kubectl("delete", "namespace", NS, "--ignore-not-found", "--wait=false", check=False)
        cp.kubectl("delete", "deviceclass", DRIVER, "--ignore-not-found", check=False)
        for s in cp.api.get(f"{V1}/resourceslices?fieldSelector=spec.driver={DRIVER}")["items"]:
            cp.api.delete(f"{V1}/resourceslices/{s['metadata']['name']}")
