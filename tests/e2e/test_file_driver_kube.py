"""The file driver in ``--cluster kube`` mode against the real control plane: its slices pass
server-side validation, the real scheduler allocates from them, and the test plays the kubelet
against the plugin's real sockets to prepare and unprepare the claim."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from drafast.testing import plugin_options, running_plugin, wait_until
from drafast.testing.cluster import ControlPlane
from drafast.types import ClaimRef, ClaimUID

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

DRIVER = "file.drafast.dev"
NS = "drafast-file-e2e"
V1 = "/apis/resource.k8s.io/v1"
DEPLOY = Path(__file__).parents[2] / "deploy" / "file"


def our_slices(cp: ControlPlane, node: str) -> list[dict[str, Any]]:
    selector = f"spec.driver={DRIVER},spec.nodeName={node}"
    return list(cp.api.get(f"{V1}/resourceslices?fieldSelector={selector}")["items"])


@pytest.fixture
def opts(tmp_path: Path, control_plane: ControlPlane, ready_node: str):  # type: ignore[no-untyped-def]
    files = tmp_path / "files"
    files.mkdir()
    for name in ("greeting", "notes"):
        (files / name).write_text("")
    yield replace(
        plugin_options(tmp_path, node_name=ready_node),
        cluster="kube",
        kubeconfig=control_plane.kubeconfig,
        context="drafast",  # the harness kubeconfig's one context, named explicitly (--context)
    )
    for s in our_slices(control_plane, ready_node):  # the kubelet would wipe them; we have none
        control_plane.api.delete(f"{V1}/resourceslices/{s['metadata']['name']}")


async def test_slices_are_published_and_accepted(opts, control_plane: ControlPlane) -> None:  # type: ignore[no-untyped-def]
    cp = control_plane
    async with running_plugin(opts) as t:
        await wait_until("the first publish", lambda: t.plugin.cluster.published)
        [sl] = our_slices(cp, opts.node_name)
        spec = sl["spec"]
        assert spec["pool"] == {"name": "vm", "generation": 1, "resourceSliceCount": 1}
        assert sorted(d["name"] for d in spec["devices"]) == ["greeting", "notes"]
        owner = sl["metadata"]["ownerReferences"][0]
        assert (owner["kind"], owner["name"], owner["controller"]) == ("Node", "vm", True)
        assert sl["metadata"]["name"].startswith(f"00000-{DRIVER}-vm-")
        out = cp.kubectl("get", "resourceslices", "-o", "wide").stdout
        assert DRIVER in out and sl["metadata"]["name"] in out


async def test_scheduler_allocates_from_our_slices_and_the_kubelet_prepares(
    opts, control_plane: ControlPlane
) -> None:  # type: ignore[no-untyped-def]
    cp = control_plane
    manifests = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}},
        *yaml.safe_load_all((DEPLOY / "deviceclass.yaml").read_text()),
        *[
            {**m, "metadata": {**m["metadata"], "namespace": NS}}
            for m in yaml.safe_load_all((DEPLOY / "example-pod.yaml").read_text())
        ],
    ]
    pod_path = f"/api/v1/namespaces/{NS}/pods/greeting-reader"
    try:
        async with running_plugin(opts) as t:
            await wait_until("the first publish", lambda: t.plugin.cluster.published)
            cp.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(manifests))
            # the real kube-controller-manager makes the claim, the real scheduler allocates it
            pod = await wait_until(
                "the pod's claim",
                lambda: cp.api.get(pod_path).get("status", {}).get("resourceClaimStatuses"),
            )
            claim_name = pod[0]["resourceClaimName"]
            claim_path = f"{V1}/namespaces/{NS}/resourceclaims/{claim_name}"
            claim = await wait_until(
                "allocation + reservation",
                lambda: (c := cp.api.get(claim_path)).get("status", {}).get("reservedFor") and c,
            )
            [result] = claim["status"]["allocation"]["devices"]["results"]
            assert (result["driver"], result["pool"], result["device"]) == (
                DRIVER,
                "vm",
                "greeting",
            )
            await wait_until(
                "pod bound to vm", lambda: cp.api.get(pod_path)["spec"].get("nodeName")
            )

            # the kubelet's part, over the plugin's real sockets
            uid = claim["metadata"]["uid"]
            ref = ClaimRef(namespace=NS, name=claim_name, uid=ClaimUID(uid))
            res = (await t.kubelet.prepare([ref]))[uid]
            assert res.error == ""
            [dev] = res.devices
            assert dev.request_names == ("file",)
            spec = orjson.loads(t.plugin.cdi.path(uid).read_bytes())
            greeting = Path(opts.driver_options["resource_dir"]) / "greeting"
            assert spec["devices"][0]["containerEdits"]["mounts"] == [
                {
                    "hostPath": str(greeting),
                    "containerPath": str(greeting),
                    "options": ["ro", "bind"],
                }
            ]
            assert greeting.read_text() == f"{NS}/greeting-reader claim={uid}\n"

            # the pod goes away: the kubelet unprepares; everything is cleaned up
            cp.api.delete(pod_path, grace_seconds=0)
            un = (await t.kubelet.unprepare([ref]))[uid]
            assert un.error == ""
            assert not t.plugin.cdi.path(uid).exists()
            assert greeting.read_text() == ""
            assert len(t.plugin.store) == 0
    finally:
        cp.kubectl("delete", "namespace", NS, "--ignore-not-found", "--wait=false", check=False)
        cp.kubectl("delete", "deviceclass", DRIVER, "--ignore-not-found", check=False)


async def test_claim_errors_name_the_claim_against_the_real_api(opts) -> None:  # type: ignore[no-untyped-def]
    async with running_plugin(opts) as t:
        ref = ClaimRef(namespace="default", name="no-such-claim", uid=ClaimUID("u-1"))
        res = (await t.kubelet.prepare([ref]))["u-1"]
        assert "claim default/no-such-claim (u-1)" in res.error and "not found" in res.error.lower()
