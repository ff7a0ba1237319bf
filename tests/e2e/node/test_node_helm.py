"""drafast installed the way users install it: ``helm install`` of ``deploy/helm/drafast`` with
the offline image (tools/image.sh, imported into the node's containerd, never pulled) on the real
control plane and the real node.

One release goes through its whole life, in order: the DaemonSet's pod starts under the real
kubelet, registers and publishes; a workload pod's claim is prepared and the pod sees its device;
the plugin's service account may write its own node's ResourceSlices and is denied another
node's; ``helm upgrade`` with a changed setting rolls the DaemonSet (surge pod beside the old one)
while workload pods are created and prepared, with zero failed prepares; ``helm uninstall`` leaves
no socket, no ResourceSlice and no CDI spec of the driver on the node.

The node has no pod network (see :mod:`drafast.testing.cluster.node`) and no kube-proxy: the chart
runs the plugin with ``hostNetwork`` and is given the API server's address, as kube-proxy-less
clusters do. The driver name differs from the host plugins' of this package's other tests.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from image_build import VERSION, built_image

from drafast.kubelet.sockets import registration_socket
from drafast.testing.bins import helm_binary
from drafast.testing.cluster import (
    ApiClient,
    ApiError,
    ControlPlane,
    delete_pods,
    free_port,
    parse_metrics,
    pod_running,
    wait_until,
)

from .conftest import (
    V1,
    NodeEnv,
    apply,
    claim_template,
    container_report,
    make_pod,
    pod_claim_uids,
    run_pods,
    wait_clean,
)

pytestmark = [pytest.mark.e2e, pytest.mark.node, pytest.mark.timeout(900)]

RELEASE = "drafast"
NAMESPACE = "drafast-system"
DRIVER = "helm.drafast.dev"
FILES = ("alpha", "beta")
SELECTOR = f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/component=file"
SERVICE_ACCOUNT = f"{RELEASE}-file"
PREPARES = "dra_operations_duration_seconds_count"


@dataclass
class Release:
    env: NodeEnv
    values: Path
    files_dir: Path

    @property
    def cp(self) -> ControlPlane:
        return self.env.cp

    def helm(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        binary = helm_binary()
        if binary is None:
            pytest.fail("no helm binary: run `make helm-bin`", pytrace=False)
        print(f"==> helm {' '.join(args)}", flush=True)
        env = {**os.environ, "KUBECONFIG": str(self.cp.kubeconfig)}
        return subprocess.run(
            [str(binary), *args, "--namespace", NAMESPACE],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env=env,
        )

    def plugin_pods(self) -> list[dict[str, Any]]:
        path = f"/api/v1/namespaces/{NAMESPACE}/pods?labelSelector={SELECTOR}"
        return list(self.cp.api.get(path)["items"])

    def ready_plugin_pod(self) -> dict[str, Any]:
        """The one plugin pod, running and ready (after a rollout: the new one only)."""

        def one_ready() -> dict[str, Any] | None:
            pods = [p for p in self.plugin_pods() if not p["metadata"].get("deletionTimestamp")]
            if len(pods) == 1 and pod_running(pods[0]):
                return pods[0]
            return None

        pod: dict[str, Any] = wait_until("one ready drafast plugin pod", one_ready, 120)
        return pod

    def events(self, namespace: str) -> list[str]:
        items = self.cp.api.get(f"/api/v1/namespaces/{namespace}/events")["items"]
        return [f"{e.get('reason')}: {e.get('message')}" for e in items]


def values(env: NodeEnv, files_dir: Path) -> dict[str, Any]:
    node, cp = env.node, env.cp
    return {
        # Never: the image must come from the archive imported here, not from a registry
        "image": {"repository": "drafast", "tag": VERSION, "pullPolicy": "Never"},
        "kubeletRootDir": str(node.kubelet_root),
        "cdiDir": str(node.cdi_dir),
        "hostNetwork": True,
        "apiServer": {"host": "127.0.0.1", "port": cp.apiserver_port},
        "logFormat": "text",
        "logLevel": "info",
        "drivers": {
            "file": {
                "enabled": True,
                "driverName": DRIVER,
                "settings": {"resource_dir": str(files_dir), "shared_files": False},
                "hostDirs": [str(files_dir)],
            }
        },
    }


@pytest.fixture(scope="module")
def release(node_env: NodeEnv, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Release]:
    root = tmp_path_factory.mktemp("helm")
    image = built_image()
    print(f"==> importing {image.archive} ({image.digest}) into the node's containerd", flush=True)
    node_env.node.ctr("images", "import", str(image.archive), timeout=300)
    files_dir = root / "files"
    files_dir.mkdir()
    for name in FILES:
        (files_dir / name).write_text("")
    values_file = root / "values.yaml"
    values_file.write_text(yaml.safe_dump(values(node_env, files_dir)))
    rel = Release(node_env, values_file, files_dir)
    try:
        yield rel
    finally:  # whatever happened: nothing of the release stays for the next tests
        rel.helm("uninstall", RELEASE, "--wait", "--ignore-not-found")
        node_env.cp.kubectl("delete", "namespace", NAMESPACE, "--ignore-not-found", check=False)
        node_env.cp.kubectl("delete", "deviceclass", DRIVER, "--ignore-not-found", check=False)
        with contextlib.suppress(ApiError):
            node_env.cp.api.request(
                "DELETE", f"{V1}/resourceslices?fieldSelector=spec.driver={DRIVER}"
            )


def kubelet_prepares(env: NodeEnv, is_error: str) -> float:
    samples = parse_metrics(env.node.kubelet_metrics()).get(PREPARES, [])
    return sum(
        v
        for lab, v in samples
        if lab.get("operation_name") == "PrepareResources"
        and lab.get("is_error") == is_error
        and lab.get("driver_name", DRIVER) == DRIVER
    )


def test_install_use_upgrade_and_uninstall(release: Release, ns: str) -> None:
    env, cp = release.env, release.cp

    # -- install: the pod starts under the real kubelet, registers, publishes
    out = release.helm(
        "install", RELEASE, str(_chart()), "--create-namespace", "-f", str(release.values),
        "--wait", "--timeout", "240s",
    )  # fmt: skip
    assert out.returncode == 0, _failure("helm install", out, release)
    pod = release.ready_plugin_pod()
    uid = pod["metadata"]["uid"]
    assert pod["spec"]["hostNetwork"] is True
    wait_until(
        f"the {DRIVER} slice of node {env.node.name}",
        lambda: [s for s in env.slices(DRIVER) if s["spec"]["devices"]],
        60,
    )
    [published] = env.slices(DRIVER)
    assert sorted(d["name"] for d in published["spec"]["devices"]) == sorted(FILES)
    # the pod's own registration socket (POD_UID: seamless upgrades), as the Go helper names it
    own = registration_socket(env.node.registry_dir, DRIVER, uid)
    assert _registration_sockets(env) == [own]

    # -- a workload pod sees its device
    apply(cp, ns, claim_template("alpha", DRIVER, "alpha"))
    alpha = release.files_dir / "alpha"
    pods = run_pods(
        cp, ns, [make_pod("w0", ns, {"f": {"resourceClaimTemplateName": "alpha"}}, [alpha])]
    )
    claim_uid = pod_claim_uids(cp, ns, pods["w0"])["f"]
    seen = container_report(cp, ns, "w0")[f"file {alpha}"]
    assert len(seen) == 1 and seen[0].split()[0] == f"{ns}/w0", seen
    assert seen[0].endswith(f" claim={claim_uid}"), seen
    delete_pods(cp, ns, ["w0"])
    wait_clean(env, DRIVER, [claim_uid], [alpha])

    # -- RBAC: the plugin's own token may write its node's slices only
    _only_own_node_slices(release, pod)

    # -- upgrade: a changed setting rolls the DaemonSet; pods are prepared throughout
    apply(cp, ns, claim_template("beta", DRIVER, "beta"))
    failed_before = kubelet_prepares(env, "true")
    done_before = kubelet_prepares(env, "false")
    upgrade: dict[str, subprocess.CompletedProcess[str]] = {}
    argv = ["upgrade", RELEASE, str(_chart()), "-f", str(release.values), "--set", "logLevel=debug"]
    helm_upgrade = threading.Thread(
        target=lambda: upgrade.setdefault(
            "out", release.helm(*argv, "--wait", "--timeout", "240s")
        ),
        daemon=True,
    )
    helm_upgrade.start()
    created = _pods_during(helm_upgrade, release, ns, minimum=4)
    helm_upgrade.join()
    assert upgrade["out"].returncode == 0, _failure("helm upgrade", upgrade["out"], release)
    new_pod = release.ready_plugin_pod()
    assert new_pod["metadata"]["uid"] != uid
    env_of = {e["name"]: e.get("value") for e in new_pod["spec"]["containers"][0]["env"]}
    assert env_of["LOG_LEVEL"] == "debug"
    failed = kubelet_prepares(env, "true") - failed_before
    succeeded = kubelet_prepares(env, "false") - done_before
    failures = [e for e in release.events(ns) if "FailedPrepare" in e]
    print(
        f"rollout: {created} workload pods created, {succeeded:.0f} prepares succeeded, "
        f"{failed:.0f} failed",
        flush=True,
    )
    assert failed == 0 and not failures, failures
    assert succeeded >= created
    wait_until("the old pod's sockets gone", lambda: len(_registration_sockets(env)) == 1, 60)

    # -- uninstall: no sockets, no slices, no CDI specs
    out = release.helm("uninstall", RELEASE, "--wait", "--timeout", "120s")
    assert out.returncode == 0, _failure("helm uninstall", out, release)
    wait_until("the plugin pods gone", lambda: not release.plugin_pods(), 60)
    assert _registration_sockets(env) == []
    plugin_dir = env.node.plugins_dir / DRIVER
    assert not [p for p in plugin_dir.rglob("*") if p.is_socket()], list(plugin_dir.rglob("*"))
    assert not list(env.node.cdi_dir.glob(f"k8s.{DRIVER}-*"))
    # the kubelet wipes a driver's slices 30 s after its last instance went
    wait_until(f"the {DRIVER} slices wiped", lambda: not env.slices(DRIVER), 90)


# --------------------------------------------------------------------------------------------------


def _chart() -> Path:
    return Path(__file__).resolve().parents[3] / "deploy" / "helm" / "drafast"


def _registration_sockets(env: NodeEnv) -> list[Path]:
    return sorted(env.node.registry_dir.glob(f"{DRIVER}-*reg.sock"))


def _failure(what: str, out: subprocess.CompletedProcess[str], release: Release) -> str:
    lines = [f"{what} failed ({out.returncode}):", out.stdout[-2000:], out.stderr[-2000:]]
    for pod in release.plugin_pods():
        name = pod["metadata"]["name"]
        lines.append(f"pod {name}: {pod.get('status', {}).get('phase')}")
        logs = release.cp.kubectl("logs", "-n", NAMESPACE, name, "--tail=30", check=False)
        lines.append(logs.stdout + logs.stderr)
    lines += release.events(NAMESPACE)[-20:]
    return "\n".join(lines)


def _pods_during(upgrade: threading.Thread, release: Release, ns: str, *, minimum: int) -> int:
    """Workload pods, one after another on alternating files, each running before the previous
    one is deleted, until the upgrade is over and at least ``minimum`` were created."""
    cp, created, previous = release.cp, 0, ""
    while upgrade.is_alive() or created < minimum:
        name, template = f"r{created}", FILES[created % 2]
        path = release.files_dir / template
        pod = make_pod(name, ns, {"f": {"resourceClaimTemplateName": template}}, [path])
        run_pods(cp, ns, [pod], timeout=120)
        created += 1
        if previous:
            delete_pods(cp, ns, [previous], timeout=120)
        previous = name
    delete_pods(cp, ns, [previous], timeout=120)
    return created


def _only_own_node_slices(release: Release, pod: dict[str, Any]) -> None:
    """A token bound to the plugin's pod (what its projected token is) creates a slice for its own
    node, and is denied one for another node by the admission policy."""
    cp, node = release.cp, release.env.node.name
    token = cp.api.create(
        f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts/{SERVICE_ACCOUNT}/token",
        {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {
                "expirationSeconds": 600,
                "boundObjectRef": {
                    "kind": "Pod",
                    "apiVersion": "v1",
                    "name": pod["metadata"]["name"],
                    "uid": pod["metadata"]["uid"],
                },
            },
        },
    )["status"]["token"]
    as_plugin = ApiClient(cp.server, token, None)
    suffix = secrets.token_hex(3)
    own = _slice(f"rbac-own-{suffix}", node)
    created = as_plugin.create(f"{V1}/resourceslices", own)
    as_plugin.delete(f"{V1}/resourceslices/{created['metadata']['name']}")
    with pytest.raises(ApiError) as denied:
        as_plugin.create(f"{V1}/resourceslices", _slice(f"rbac-other-{suffix}", "other-node"))
    assert denied.value.status == 403  # reason: Forbidden (a policy denies with 422 otherwise)
    assert f"a plugin on node {node} may not write the ResourceSlices of node other-node" in (
        denied.value.body
    )
    with pytest.raises(ApiError) as no_nodes:  # and nothing beyond its role
        as_plugin.request("DELETE", f"/api/v1/nodes/{node}")
    assert no_nodes.value.status == 403


def _slice(name: str, node: str) -> dict[str, Any]:
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceSlice",
        "metadata": {"name": name},
        "spec": {
            "driver": DRIVER,
            "nodeName": node,
            "pool": {"name": f"rbac-{name}", "generation": 1, "resourceSliceCount": 1},
            "devices": [],
        },
    }


@pytest.mark.parametrize(
    ("case", "sets", "evidence"),
    [
        # the image is not on the node (pullPolicy Never: nothing to pull it from here)
        ("missing-image", ["image.tag=missing"],
         "event ErrImageNeverPull|image \"drafast:missing\" is not present"),
        # a node without the kubelet's dirs: nothing may be created there
        ("no-kubelet-dirs", ["kubeletRootDir=/nonexistent-kubelet"],
         "event FailedMount|/nonexistent-kubelet/plugins is not a directory"),
        # an API server the pod cannot reach: its log names it, it never registers
        ("unreachable-api", ["apiServer.port={closed_port}"], "log 127.0.0.1:{closed_port}"),
    ],
)  # fmt: skip
def test_a_bad_install_says_why_and_leaves_nothing(
    release: Release, case: str, sets: list[str], evidence: str
) -> None:
    env, cp = release.env, release.cp
    closed_port = str(free_port())
    argv = ["install", RELEASE, str(_chart()), "--create-namespace", "-f", str(release.values)]
    for s in sets:
        argv += ["--set", s.format(closed_port=closed_port)]
    out = release.helm(*argv)
    assert out.returncode == 0, _failure(f"helm install ({case})", out, release)
    source, _, text = evidence.format(closed_port=closed_port).partition(" ")

    def shown() -> bool:
        if source == "event":
            reason, _, fragment = text.partition("|")
            return any(
                e.startswith(f"{reason}: ") and fragment in e for e in release.events(NAMESPACE)
            )
        pods = release.plugin_pods()
        logs = [
            cp.kubectl("logs", "-n", NAMESPACE, p["metadata"]["name"], check=False).stdout
            for p in pods
        ]
        return any(text in line for log in logs for line in log.splitlines())

    try:
        try:
            wait_until(f"{case}: {evidence}", shown, 90)
        except AssertionError as err:
            raise AssertionError(_failure(str(err), out, release)) from None
        assert not any(pod_running(p) for p in release.plugin_pods())
    finally:
        out = release.helm("uninstall", RELEASE, "--wait", "--timeout", "120s")
        # (its events go with it: the next case must not read this one's)
        cp.kubectl("delete", "namespace", NAMESPACE, "--wait", "--timeout=120s", check=False)
    assert out.returncode == 0, _failure(f"helm uninstall ({case})", out, release)
    wait_until("the plugin pods gone", lambda: not release.plugin_pods(), 60)
    assert _registration_sockets(env) == []
    assert not Path("/nonexistent-kubelet").exists()
    plugin_dir = env.node.plugins_dir / DRIVER
    assert not [p for p in plugin_dir.rglob("*") if p.is_socket()], list(plugin_dir.rglob("*"))
    assert not env.slices(DRIVER)
