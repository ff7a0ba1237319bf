"""Pods on the test node: a manifest that runs without a registry or a pod network, and waiting
for pods to run or to be gone (with what went wrong when they do not)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping, Sequence
from typing import Any

from drafast.testing.cluster.apiclient import ApiError
from drafast.testing.cluster.controlplane import ControlPlane
from drafast.testing.images import TESTBOX_IMAGE

__all__ = ["SLEEP_FOREVER", "delete_pods", "pod_manifest", "pod_running", "wait_pods_running"]

#: A container command that ignores nothing: exits at SIGTERM at once (sh as PID 1 would not).
SLEEP_FOREVER = "trap 'exit 0' TERM; sleep 3600 & wait"


def pod_manifest(
    name: str,
    *,
    namespace: str,
    claims: Mapping[str, Mapping[str, str]] = {},
    script: str = SLEEP_FOREVER,
    env: Mapping[str, str] = {},
    node_name: str | None = None,
    image: str = TESTBOX_IMAGE,
) -> dict[str, Any]:
    """A test pod: host network, the imported busybox image (never pulled), one container
    running ``sh -c script`` with every claim in ``claims``.

    ``claims`` maps the pod's claim name to ``{"resourceClaimTemplateName": ...}`` or
    ``{"resourceClaimName": ...}``.
    """
    container: dict[str, Any] = {
        "name": "main",
        "image": image,
        "imagePullPolicy": "Never",
        "command": ["sh", "-c", script],
    }
    if env:
        container["env"] = [{"name": k, "value": v} for k, v in env.items()]
    if claims:
        container["resources"] = {"claims": [{"name": c} for c in claims]}
    spec: dict[str, Any] = {
        "hostNetwork": True,
        "dnsPolicy": "Default",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": 5,
        "containers": [container],
    }
    if claims:
        spec["resourceClaims"] = [{"name": c, **src} for c, src in claims.items()]
    if node_name:
        spec["nodeSelector"] = {"kubernetes.io/hostname": node_name}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def pod_running(pod: Mapping[str, Any]) -> bool:
    """Phase Running and every container running and ready."""
    status = pod.get("status") or {}
    if status.get("phase") != "Running":
        return False
    cs = status.get("containerStatuses") or []
    return bool(cs) and all(c.get("ready") and "running" in (c.get("state") or {}) for c in cs)


def _pod_problem(pod: Mapping[str, Any]) -> str:
    status = pod.get("status") or {}
    out = [f"phase={status.get('phase')}"]
    for c in status.get("conditions") or []:
        if c.get("status") != "True":
            out.append(f"{c['type']}: {c.get('reason', '')} {c.get('message', '')}".strip())
    for cs in status.get("containerStatuses") or []:
        for state, detail in (cs.get("state") or {}).items():
            out.append(f"container {cs['name']} {state} {detail.get('reason', '')}")
    return "; ".join(out)


def wait_pods_running(
    cp: ControlPlane, namespace: str, names: Sequence[str], timeout: float = 90.0
) -> dict[str, dict[str, Any]]:
    """Until every pod in ``names`` runs; their objects. On timeout: an AssertionError with each
    pod's status and its recent events (FailedPrepareDynamicResources & co)."""
    deadline = time.monotonic() + timeout
    pods: dict[str, dict[str, Any]] = {}
    while True:
        for n in names:
            with contextlib.suppress(ApiError):
                pods[n] = cp.api.get(f"/api/v1/namespaces/{namespace}/pods/{n}")
        if all(n in pods and pod_running(pods[n]) for n in names):
            return pods
        if time.monotonic() > deadline:
            lines = [f"{n}: {_pod_problem(pods.get(n, {}))}" for n in names]
            events = cp.api.get(f"/api/v1/namespaces/{namespace}/events")["items"]
            lines += [
                f"event {e['involvedObject'].get('name')}: {e.get('reason')}: {e.get('message')}"
                for e in events[-15:]
            ]
            raise AssertionError(f"pods not running after {timeout:.0f}s:\n" + "\n".join(lines))
        time.sleep(0.2)


def delete_pods(
    cp: ControlPlane,
    namespace: str,
    names: Sequence[str],
    *,
    wait: bool = True,
    grace_seconds: int | None = None,
    timeout: float = 90.0,
) -> None:
    """Delete the pods (gracefully by default) and wait until the kubelet has finished them:
    the API object only goes once the kubelet confirmed termination, which for a pod with
    claims includes a successful NodeUnprepareResources."""
    for n in names:
        with contextlib.suppress(ApiError):
            cp.api.delete(f"/api/v1/namespaces/{namespace}/pods/{n}", grace_seconds=grace_seconds)
    if not wait:
        return
    deadline = time.monotonic() + timeout
    left = list(names)
    while left:
        still = []
        for n in left:
            try:
                cp.api.get(f"/api/v1/namespaces/{namespace}/pods/{n}")
                still.append(n)
            except ApiError as e:
                if e.status != 404:
                    raise
        left = still
        if left and time.monotonic() > deadline:
            raise AssertionError(f"pods {left} still there {timeout:.0f}s after deletion")
        if left:
            time.sleep(0.2)
