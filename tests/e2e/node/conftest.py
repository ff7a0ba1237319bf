"""A real node for the e2e tests: containerd + kubelet v1.37 joined to the session's control
plane, with drafast's file driver (twice: plain, and with ``--shared-files``) running as host
processes that the real kubelet discovers through its plugin registry and calls.

The node needs ``make node-bins`` (containerd/runc/CNI/busybox + images) and the kubelet from
``make cluster-bins``. If the node cannot start, every test here FAILS with the reason.

All tests of this directory run after the other e2e tests (see
:func:`pytest_collection_modifyitems`): the real kubelet owns Node ``vm`` and wipes its
ResourceSlices when it starts, which the fake-node tests must never see.
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from drafast.testing.cluster import (
    ApiError,
    ControlPlane,
    ControlPlaneError,
    HostPlugin,
    Node,
    default_node_name,
    delete_pods,
    pod_manifest,
    wait_pods_running,
    wait_until,
)

NODE_DIR = Path(__file__).parent
DEPLOY = Path(__file__).parents[3] / "deploy" / "file"
FILE_DRIVER = "file.drafast.dev"
SHARED_DRIVER = "shared.drafast.dev"
V1 = "/apis/resource.k8s.io/v1"
FILES = ("greeting", "notes")
SHARED_FILES = ("board",)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "node: needs a real node: containerd + kubelet (make node-bins cluster-bins)"
    )


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the real-node tests last (after any shuffling), in one block."""
    here = str(NODE_DIR) + "/"
    ours = [i for i in items if str(i.path).startswith(here)]
    if ours:
        items[:] = [i for i in items if not str(i.path).startswith(here)] + ours


# --------------------------------------------------------------------------------------------------
# the node and the plugins


@dataclass
class NodeEnv:
    """Everything a node test needs."""

    cp: ControlPlane
    node: Node
    file_plugin: HostPlugin
    shared_plugin: HostPlugin
    files_dir: Path
    shared_dir: Path

    @property
    def api(self) -> Any:
        return self.cp.api

    def plugin(self, driver: str) -> HostPlugin:
        return self.file_plugin if driver == FILE_DRIVER else self.shared_plugin

    def file(self, name: str) -> Path:
        return (self.shared_dir if name in SHARED_FILES else self.files_dir) / name

    def cdi_spec(self, driver: str, claim_uid: str) -> Path:
        return self.node.cdi_dir / f"k8s.{driver}-file_{claim_uid}.json"

    def slices(self, driver: str | None = None) -> list[dict[str, Any]]:
        sel = f"spec.nodeName={self.node.name}"
        if driver:
            sel += f",spec.driver={driver}"
        return list(self.api.get(f"{V1}/resourceslices?fieldSelector={sel}")["items"])

    def check_alive(self) -> None:
        self.cp.check_alive()
        self.node.check_alive()
        for p in (self.file_plugin, self.shared_plugin):
            if not p.running():
                raise AssertionError(f"{p.driver_name} plugin died:\n{p.tail()}")


def _device_class(driver: str) -> dict[str, Any]:
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "DeviceClass",
        "metadata": {"name": driver},
        "spec": {"selectors": [{"cel": {"expression": f'device.driver == "{driver}"'}}]},
    }


@pytest.fixture(scope="package")
def node_env(control_plane: ControlPlane) -> Iterator[NodeEnv]:
    cp = control_plane
    # short: the plugin pods' rolling-update socket names must fit 107 bytes in its registry dir
    root = Path(tempfile.mkdtemp(prefix="dn-", dir="/tmp"))
    # leftovers of fake-node tests: the real kubelet registers Node vm itself
    cp.kubectl("delete", "node", default_node_name(), "--ignore-not-found", check=False)
    try:
        node = Node.start(cp, root / "node")
    except ControlPlaneError as e:
        pytest.fail(f"the real node did not start (work dir {root}):\n{e}", pytrace=False)
    plugins: list[HostPlugin] = []
    try:
        files_dir, shared_dir = root / "files", root / "shared-files"
        for d, names in ((files_dir, FILES), (shared_dir, SHARED_FILES)):
            d.mkdir()
            for n in names:
                (d / n).write_text("")
        cp.kubectl("apply", "-f", str(DEPLOY / "deviceclass.yaml"))
        cp.kubectl("apply", "-f", "-", input=yaml.safe_dump(_device_class(SHARED_DRIVER)))
        try:
            plugins.append(
                HostPlugin.start(node, root / "drafast", settings={"resource_dir": files_dir})
            )
            plugins.append(
                HostPlugin.start(
                    node,
                    root / "drafast",
                    driver_name=SHARED_DRIVER,
                    settings={"resource_dir": shared_dir, "shared_files": True},
                )
            )
        except ControlPlaneError as e:
            pytest.fail(f"drafast did not register with the real kubelet:\n{e}", pytrace=False)
        yield NodeEnv(cp, node, plugins[0], plugins[1], files_dir, shared_dir)
    finally:
        try:
            for p in plugins:
                p.stop()
            node.stop()  # raises if a process, mount or cgroup was left behind
        finally:
            cp.kubectl("delete", "node", node.name, "--ignore-not-found", check=False)
            for driver in (FILE_DRIVER, SHARED_DRIVER):
                cp.kubectl("delete", "deviceclass", driver, "--ignore-not-found", check=False)
            with contextlib.suppress(ApiError):
                cp.api.request(
                    "DELETE", f"{V1}/resourceslices?fieldSelector=spec.nodeName={node.name}"
                )
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def env(node_env: NodeEnv) -> Iterator[NodeEnv]:
    """The node, checked alive before and after the test."""
    node_env.check_alive()
    yield node_env
    node_env.check_alive()


@pytest.fixture
def ns(request: pytest.FixtureRequest, env: NodeEnv) -> Iterator[str]:
    """A namespace of its own; its pods are deleted (and unprepared) afterwards."""
    base = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower().removeprefix("test_"))[:40]
    name = f"{base.strip('-')}-{secrets.token_hex(2)}"
    env.api.create(
        "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
    )
    yield name
    pods = env.api.get(f"/api/v1/namespaces/{name}/pods")["items"]
    delete_pods(env.cp, name, [p["metadata"]["name"] for p in pods], timeout=120)
    env.cp.kubectl("delete", "namespace", name, "--wait=false", check=False)


# --------------------------------------------------------------------------------------------------
# helpers for the tests


def claim_template(name: str, driver: str, filename: str) -> dict[str, Any]:
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceClaimTemplate",
        "metadata": {"name": name},
        "spec": {"spec": _claim_spec(driver, filename)},
    }


def claim(name: str, driver: str, filename: str) -> dict[str, Any]:
    return {
        "apiVersion": "resource.k8s.io/v1",
        "kind": "ResourceClaim",
        "metadata": {"name": name},
        "spec": _claim_spec(driver, filename),
    }


def _claim_spec(driver: str, filename: str) -> dict[str, Any]:
    return {
        "devices": {
            "requests": [
                {
                    "name": "file",
                    "exactly": {
                        "deviceClassName": driver,
                        "selectors": [
                            {
                                "cel": {
                                    "expression": f'device.attributes["{driver}"].filename'
                                    f' == "{filename}"'
                                }
                            }
                        ],
                    },
                }
            ]
        }
    }


def report_script(paths: Sequence[Path]) -> str:
    """Print what the container sees (each file, its mount line, our env), then sleep."""
    lines = []
    for p in paths:
        lines.append(f'echo "== file {p}"; cat {p}')
        lines.append(f'echo "== mount {p}"; grep " {p} " /proc/mounts')
    lines.append('echo "== env"; env | grep ^DRAFAST_ | sort')
    lines.append('echo "== end"')
    lines.append("trap 'exit 0' TERM; sleep 3600 & wait")
    return "; ".join(lines)


def parse_report(text: str) -> dict[str, list[str]]:
    """``== section`` headed blocks of a container's report."""
    out: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("== "):
            current = line[3:]
            out[current] = []
        elif current is not None:
            out[current].append(line)
    return out


def container_report(cp: ControlPlane, ns: str, pod: str) -> dict[str, list[str]]:
    """The report of a running pod's container (``kubectl logs`` via the kubelet)."""

    def complete() -> dict[str, list[str]] | None:
        res = cp.kubectl("logs", "-n", ns, pod, check=False)
        rep = parse_report(res.stdout)
        return rep if "end" in rep else None

    result: dict[str, list[str]] = wait_until(f"the report of {ns}/{pod}", complete, 30)
    return result


def apply(cp: ControlPlane, ns: str, *objs: Mapping[str, Any]) -> None:
    docs = [{**o, "metadata": {**o["metadata"], "namespace": ns}} for o in objs]
    # JSON, not YAML: kubectl reads YAML 1.1, where a claim named "n" or "y" is a boolean
    cp.kubectl(
        "apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": docs})
    )


def run_pods(
    cp: ControlPlane, ns: str, pods: Sequence[Mapping[str, Any]], timeout: float = 90.0
) -> dict[str, dict[str, Any]]:
    apply(cp, ns, *pods)
    return wait_pods_running(cp, ns, [p["metadata"]["name"] for p in pods], timeout)


def pod_claim_uids(cp: ControlPlane, ns: str, pod: Mapping[str, Any]) -> dict[str, str]:
    """The pod's claim name (in the pod spec) -> ResourceClaim UID."""
    out = {}
    for st in pod["status"].get("resourceClaimStatuses") or []:
        c = cp.api.get(f"{V1}/namespaces/{ns}/resourceclaims/{st['resourceClaimName']}")
        out[st["name"]] = c["metadata"]["uid"]
    for rc in pod["spec"].get("resourceClaims") or []:
        if "resourceClaimName" in rc:
            c = cp.api.get(f"{V1}/namespaces/{ns}/resourceclaims/{rc['resourceClaimName']}")
            out[rc["name"]] = c["metadata"]["uid"]
    return out


def make_pod(
    name: str, ns: str, claims: Mapping[str, Mapping[str, str]], files: Sequence[Path]
) -> dict[str, Any]:
    """A pod whose container reports ``files`` (content + mount) and our env, then sleeps."""
    return pod_manifest(name, namespace=ns, claims=claims, script=report_script(files))


def lines_of(path: Path) -> list[str]:
    return path.read_text().splitlines()


def wait_clean(env: NodeEnv, driver: str, uids: Sequence[str], files: Sequence[Path]) -> None:
    """Until the claims' CDI specs are gone and no file names them any more."""

    def clean() -> bool:
        if any(env.cdi_spec(driver, u).exists() for u in uids):
            return False
        return not any(u in f.read_text() for f in files for u in uids)

    wait_until(f"unprepare of {list(uids)} ({driver})", clean, 60)
