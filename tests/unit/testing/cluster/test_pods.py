from __future__ import annotations

from drafast.testing.cluster.pods import pod_manifest, pod_running
from drafast.testing.images import TESTBOX_IMAGE


def test_pod_manifest_with_a_claim_runs_on_the_host_network_without_pulling() -> None:
    pod = pod_manifest(
        "p",
        namespace="ns",
        claims={"c": {"resourceClaimTemplateName": "t"}},
        env={"K": "V"},
        node_name="vm",
    )
    spec = pod["spec"]
    (container,) = spec["containers"]
    assert spec["hostNetwork"] is True
    assert container["image"] == TESTBOX_IMAGE
    assert container["imagePullPolicy"] == "Never"
    assert container["resources"] == {"claims": [{"name": "c"}]}
    assert container["env"] == [{"name": "K", "value": "V"}]
    assert spec["resourceClaims"] == [{"name": "c", "resourceClaimTemplateName": "t"}]
    assert spec["nodeSelector"] == {"kubernetes.io/hostname": "vm"}


def test_pod_running_needs_every_container_ready() -> None:
    def pod(ready: bool) -> dict[str, object]:
        cs = {"name": "main", "ready": ready, "state": {"running": {}}}
        return {"status": {"phase": "Running", "containerStatuses": [cs]}}

    assert pod_running(pod(True))
    assert not pod_running(pod(False))
    assert not pod_running({"status": {"phase": "Pending"}})
