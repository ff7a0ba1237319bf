"""The real control plane accepts our DRA objects and allocates a claim end to end.

kube-controller-manager turns a ResourceClaimTemplate into a ResourceClaim for the pod, and
kube-scheduler allocates it against our ResourceSlice and binds the pod to node ``vm``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from drafast.testing.cluster import ApiError, ControlPlane, ControlPlaneError

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

DRIVER = "smoke.drafast.dev"
NS = "drafast-smoke"
RESOURCE_V1 = "/apis/resource.k8s.io/v1"


def wait_for(what: str, fn: Callable[[], Any], timeout: float = 60.0) -> Any:
    """Poll ``fn`` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.2)


def diagnostics(cp: ControlPlane) -> str:
    parts = []
    for args in (("get", "pods,resourceclaims", "-n", NS, "-o", "yaml"), ("get", "events", "-A")):
        parts.append(cp.kubectl(*args, check=False).stdout)
    for name in ("kube-scheduler", "kube-controller-manager"):
        log = cp.logs_dir / f"{name}.log"
        parts.append(f"--- {name} (last lines of {log}) ---")
        parts.append("\n".join(log.read_text(errors="replace").splitlines()[-30:]))
    return "\n".join(parts)


@pytest.fixture
def dra_objects(control_plane: ControlPlane, ready_node: str) -> Iterator[str]:
    """DeviceClass + one-device ResourceSlice for ``ready_node``; removed afterwards."""
    cp = control_plane
    cp.api.create(
        f"{RESOURCE_V1}/deviceclasses",
        {
            "apiVersion": "resource.k8s.io/v1",
            "kind": "DeviceClass",
            "metadata": {"name": DRIVER},
            "spec": {"selectors": [{"cel": {"expression": f'device.driver == "{DRIVER}"'}}]},
        },
    )
    cp.api.create(
        f"{RESOURCE_V1}/resourceslices",
        {
            "apiVersion": "resource.k8s.io/v1",
            "kind": "ResourceSlice",
            "metadata": {"name": f"{ready_node}-{DRIVER}"},
            "spec": {
                "driver": DRIVER,
                "nodeName": ready_node,
                "pool": {"name": ready_node, "generation": 0, "resourceSliceCount": 1},
                "devices": [
                    {
                        "name": "dev-0",
                        "attributes": {
                            "model": {"string": "smoke"},
                            f"{DRIVER}/index": {"int": 0},
                        },
                        "capacity": {"memory": {"value": "1Gi"}},
                    }
                ],
            },
        },
    )
    try:
        yield DRIVER
    finally:
        cp.kubectl("delete", "namespace", NS, "--ignore-not-found", "--wait=false", check=False)
        cp.kubectl("delete", "resourceslice", f"{ready_node}-{DRIVER}", check=False)
        cp.kubectl("delete", "deviceclass", DRIVER, check=False)


def test_resource_v1_is_served(control_plane: ControlPlane) -> None:
    group = control_plane.api.get(RESOURCE_V1)
    names = {r["name"] for r in group["resources"]}
    assert {"deviceclasses", "resourceslices", "resourceclaims", "resourceclaimtemplates"} <= names
    assert "resourceclaims/status" in names
    version = control_plane.api.get("/version")
    assert version["major"] == "1"
    out = control_plane.kubectl("version", "-o", "json").stdout
    assert json.loads(out)["serverVersion"]["gitVersion"] == version["gitVersion"]


def test_apiserver_rejects_an_invalid_slice(control_plane: ControlPlane) -> None:
    with pytest.raises(ApiError) as err:
        control_plane.api.create(
            f"{RESOURCE_V1}/resourceslices",
            {
                "apiVersion": "resource.k8s.io/v1",
                "kind": "ResourceSlice",
                "metadata": {"name": "bad"},
                # no node selection, device name not a DNS label
                "spec": {
                    "driver": DRIVER,
                    "pool": {"name": "p", "generation": 0, "resourceSliceCount": 1},
                    "devices": [{"name": "Not_A_Label"}],
                },
            },
        )
    assert err.value.status == 422


def test_alpha_dra_fields_are_kept(control_plane: ControlPlane) -> None:
    """The harness' feature gates are on: gated slice fields are stored, not silently dropped."""
    cp = control_plane
    created = cp.api.create(
        f"{RESOURCE_V1}/resourceslices",
        {
            "apiVersion": "resource.k8s.io/v1",
            "kind": "ResourceSlice",
            "metadata": {"name": "gated-fields"},
            "spec": {
                "driver": DRIVER,
                "nodeName": "some-node",
                "pool": {"name": "gated", "generation": 0, "resourceSliceCount": 1},
                "skipNodeOperations": ["NodePrepareResources", "NodeUnprepareResources"],
                "devices": [{"name": "d0", "attributes": {"models": {"strings": ["a", "b"]}}}],
            },
        },
    )
    try:
        spec = cp.api.get(f"{RESOURCE_V1}/resourceslices/gated-fields")["spec"]
        assert spec == created["spec"]
        assert spec["skipNodeOperations"] == ["NodePrepareResources", "NodeUnprepareResources"]
        assert spec["devices"][0]["attributes"]["models"] == {"strings": ["a", "b"]}
    finally:
        cp.api.delete(f"{RESOURCE_V1}/resourceslices/gated-fields")


def test_claim_from_template_is_allocated_by_the_real_scheduler(
    control_plane: ControlPlane, dra_objects: str, ready_node: str
) -> None:
    cp = control_plane
    before = cp.audit.count(resource="resourceslices", verbs=frozenset({"create"}))
    assert before >= 1, "the slice create is in the audit log"

    manifests = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}},
        {
            "apiVersion": "resource.k8s.io/v1",
            "kind": "ResourceClaimTemplate",
            "metadata": {"name": "one-dev", "namespace": NS},
            "spec": {
                "spec": {
                    "devices": {
                        "requests": [{"name": "dev", "exactly": {"deviceClassName": dra_objects}}]
                    }
                }
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "consumer", "namespace": NS},
            "spec": {
                "hostNetwork": True,
                "automountServiceAccountToken": False,
                "terminationGracePeriodSeconds": 0,
                "resourceClaims": [{"name": "c", "resourceClaimTemplateName": "one-dev"}],
                "containers": [
                    {
                        "name": "main",
                        "image": "localhost/testbox:v1",
                        "imagePullPolicy": "IfNotPresent",
                        "command": ["/bin/sleep", "3600"],
                        "resources": {"claims": [{"name": "c"}]},
                    }
                ],
            },
        },
    ]
    cp.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(manifests))

    try:
        # kube-controller-manager's resourceclaim controller creates the claim ...
        pod = wait_for(
            "pod.status.resourceClaimStatuses",
            lambda: (
                p
                if (p := cp.api.get(f"/api/v1/namespaces/{NS}/pods/consumer"))
                .get("status", {})
                .get("resourceClaimStatuses")
                else None
            ),
        )
        claim_name = pod["status"]["resourceClaimStatuses"][0]["resourceClaimName"]
        assert claim_name, pod["status"]
        claim_path = f"{RESOURCE_V1}/namespaces/{NS}/resourceclaims/{claim_name}"

        # ... and kube-scheduler allocates it, reserves it for the pod, and binds the pod.
        claim = wait_for(
            "claim allocation + reservation",
            lambda: (
                c
                if (c := cp.api.get(claim_path)).get("status", {}).get("reservedFor")
                and c["status"].get("allocation")
                else None
            ),
        )
        pod = wait_for(
            "pod bound to the node",
            lambda: (
                p
                if (p := cp.api.get(f"/api/v1/namespaces/{NS}/pods/consumer"))["spec"].get(
                    "nodeName"
                )
                else None
            ),
        )
    except AssertionError as e:
        raise AssertionError(f"{e}\n{diagnostics(cp)}") from None

    assert pod["spec"]["nodeName"] == ready_node
    owner = claim["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["uid"]) == (
        "Pod",
        "consumer",
        pod["metadata"]["uid"],
    )
    results = claim["status"]["allocation"]["devices"]["results"]
    assert [(r["request"], r["driver"], r["pool"], r["device"]) for r in results] == [
        ("dev", DRIVER, ready_node, "dev-0")
    ]
    terms = claim["status"]["allocation"]["nodeSelector"]["nodeSelectorTerms"]
    assert terms[0]["matchFields"][0]["values"] == [ready_node]
    assert claim["status"]["reservedFor"] == [
        {"resource": "pods", "name": "consumer", "uid": pod["metadata"]["uid"]}
    ]
    # The audit policy logs claim status writes too (the scheduler's allocation).
    assert cp.audit.count(resource="resourceclaims", subresource="status") >= 1

    # Pod gone (forced: no kubelet) -> the controller deletes the generated claim.
    cp.kubectl("delete", "pod", "consumer", "-n", NS, "--grace-period=0", "--force")

    def claim_gone() -> bool:
        try:
            cp.api.get(claim_path)
        except ApiError as e:
            return e.status == 404
        return False

    wait_for("generated claim deleted", claim_gone)


def test_apiserver_restart_keeps_state_and_audit(control_plane: ControlPlane) -> None:
    cp = control_plane
    cp.api.create(
        "/api/v1/namespaces",
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "restart-check"}},
    )
    audit_before = len(cp.audit.events())
    cp.restart_apiserver(downtime=1.0)
    assert cp.api.get("/api/v1/namespaces/restart-check")["metadata"]["name"] == "restart-check"
    assert cp.kubectl("get", "namespace", "restart-check").returncode == 0
    assert len(cp.audit.events()) >= audit_before
    cp.check_alive()  # scheduler and controller-manager survived the outage
    cp.kubectl("delete", "namespace", "restart-check", "--wait=false")


def test_pid_names_the_running_component(control_plane: ControlPlane) -> None:
    pid = control_plane.pid("kube-apiserver")
    assert Path(f"/proc/{pid}/comm").read_text().strip() == "kube-apiserver"
    with pytest.raises(KeyError):
        control_plane.pid("kube-proxy")  # not a component of this control plane


def test_missing_binaries_fail_with_a_hint(tmp_path: Path) -> None:
    with pytest.raises(ControlPlaneError, match="make cluster-bins"):
        ControlPlane.start(tmp_path / "nothing-here", tmp_path / "work")
