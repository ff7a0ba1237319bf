"""The NX-gzip driver on the real node: a fixture host root (a PowerVM LPAR with NX whose
``dev/crypto/nx-gzip`` is a stand-in character device with /dev/null's numbers) makes drafast
publish the accelerator; the real scheduler allocates it, the real kubelet has drafast prepare it,
and containerd puts the device node and the env into the container."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from nx_fixture import trees

from drafast.testing.cluster import HostPlugin, delete_pods, pod_manifest

from .conftest import V1, NodeEnv, apply, container_report, pod_claim_uids, run_pods

pytestmark = [pytest.mark.e2e, pytest.mark.node, pytest.mark.timeout(300)]

NX_DRIVER = "nx.drafast.dev"
DEPLOY = Path(__file__).parents[3] / "deploy" / "nx"


@pytest.fixture
def nx_plugin(env: NodeEnv, tmp_path: Path) -> Iterator[HostPlugin]:
    root = trees.build("lpar-nx", tmp_path / "host")
    assert trees.make_device_node(root, 1, 3), "mknod needs root"
    env.cp.kubectl("apply", "-f", str(DEPLOY / "deviceclass.yaml"))
    plugin = HostPlugin.start(
        env.node,
        tmp_path / "drafast",
        driver="nx",
        driver_name=NX_DRIVER,
        settings={"host_root": root},
    )
    try:
        yield plugin
    finally:
        plugin.stop()
        env.cp.kubectl("delete", "deviceclass", NX_DRIVER, "--ignore-not-found", check=False)
        for s in env.api.get(f"{V1}/resourceslices?fieldSelector=spec.driver={NX_DRIVER}")["items"]:
            env.api.delete(f"{V1}/resourceslices/{s['metadata']['name']}")


def test_the_container_sees_the_nx_device_and_env(
    env: NodeEnv, ns: str, nx_plugin: HostPlugin
) -> None:
    cp = env.cp
    template = next(
        m
        for m in yaml.safe_load_all((DEPLOY / "example-exclusive.yaml").read_text())
        if m["kind"] == "ResourceClaimTemplate"
    )
    apply(cp, ns, template)
    script = "; ".join(
        [
            'echo "== dev"; stat -c "%F %t:%T" /dev/crypto/nx-gzip',
            'echo "== env"; env | grep ^NX_ | sort',
            'echo "== end"',
            "trap 'exit 0' TERM; sleep 3600 & wait",
        ]
    )
    pod = pod_manifest(
        "nx-user",
        namespace=ns,
        claims={"nx": {"resourceClaimTemplateName": template["metadata"]["name"]}},
        script=script,
    )
    pods = run_pods(cp, ns, [pod])
    [uid] = pod_claim_uids(cp, ns, pods["nx-user"]).values()

    rep = container_report(cp, ns, "nx-user")
    assert rep["dev"] == ["character special file 1:3"]  # /dev/null's numbers, hex major:minor
    env_vars = dict(line.split("=", 1) for line in rep["env"])
    assert env_vars["NX_DEVICE"] == "nx-gzip"
    assert env_vars["NX_DEVICE_SHARING_STRATEGY"] == "TimeSlicing"
    assert env_vars["NX_DEVICE_TIMESLICE_INTERVAL"] == "Long"
    spec = env.node.cdi_dir / f"k8s.{NX_DRIVER}-nx_{uid}.json"
    assert spec.exists(), sorted(p.name for p in env.node.cdi_dir.iterdir())

    delete_pods(cp, ns, ["nx-user"], timeout=120)
    assert not spec.exists()  # the kubelet's unprepare removed it
