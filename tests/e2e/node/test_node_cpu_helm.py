"""The CPU driver installed the way users install it: ``helm install`` of the chart with only
``drivers.cpu`` enabled, the offline image (never pulled) and the node's NRI socket mounted. The
plugin pod turns Ready only once the kubelet registered it, its slices are published and NRI is
synchronized with the node's containerd; then a pod with a CPU claim runs on its claim's CPU and a
pod without one on the other."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from image_build import VERSION, built_image

from drafast.testing.bins import helm_binary
from drafast.testing.cluster import pod_running, wait_until

from .conftest import NodeEnv, apply, run_pods
from .test_node_cpu import CPU_DRIVER, ONLINE, claim_cpus, cpu_template, wait_cpus, watcher

pytestmark = [pytest.mark.e2e, pytest.mark.node, pytest.mark.timeout(600)]

RELEASE = "drafast-cpu"
NAMESPACE = "drafast-cpu"
SELECTOR = f"app.kubernetes.io/instance={RELEASE},app.kubernetes.io/component=cpu"
CHART = Path(__file__).resolve().parents[3] / "deploy" / "helm" / "drafast"


def helm(env: NodeEnv, *args: str) -> subprocess.CompletedProcess[str]:
    binary = helm_binary()
    if binary is None:
        pytest.fail("no helm binary: run `make helm-bin`", pytrace=False)
    print(f"==> helm {' '.join(args)}", flush=True)
    return subprocess.run(
        [str(binary), *args, "--namespace", NAMESPACE],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "KUBECONFIG": str(env.cp.kubeconfig)},
    )


def plugin_pods(env: NodeEnv) -> list[dict[str, Any]]:
    path = f"/api/v1/namespaces/{NAMESPACE}/pods?labelSelector={SELECTOR}"
    return list(env.api.get(path)["items"])


def why(env: NodeEnv, out: subprocess.CompletedProcess[str]) -> str:
    lines = [out.stdout[-2000:], out.stderr[-2000:]]
    for pod in plugin_pods(env):
        name = pod["metadata"]["name"]
        logs = env.cp.kubectl("logs", "-n", NAMESPACE, name, "--tail=30", check=False)
        lines.append(f"pod {name}:\n{logs.stdout}{logs.stderr}")
    return "\n".join(lines)


@pytest.fixture
def cpu_release(env: NodeEnv, tmp_path: Path) -> Iterator[None]:
    image = built_image()
    print(f"==> importing {image.archive} into the node's containerd", flush=True)
    env.node.ctr("images", "import", str(image.archive), timeout=300)
    values = {
        "image": {"repository": "drafast", "tag": VERSION, "pullPolicy": "Never"},
        "kubeletRootDir": str(env.node.kubelet_root),
        "cdiDir": str(env.node.cdi_dir),
        "hostNetwork": True,
        "apiServer": {"host": "127.0.0.1", "port": env.cp.apiserver_port},
        "logFormat": "text",
        "drivers": {
            "file": {"enabled": False},
            "cpu": {
                "enabled": True,
                "driverName": CPU_DRIVER,
                "nriSocket": str(env.node.nri_socket),
                "settings": {"host_root": "/"},
            },
        },
    }
    (tmp_path / "values.yaml").write_text(yaml.safe_dump(values))
    out = helm(
        env, "install", RELEASE, str(CHART), "--create-namespace",
        "-f", str(tmp_path / "values.yaml"), "--wait", "--timeout", "240s",
    )  # fmt: skip
    try:
        assert out.returncode == 0, why(env, out)
        yield
    finally:
        helm(env, "uninstall", RELEASE, "--wait", "--ignore-not-found")
        env.cp.kubectl("delete", "namespace", NAMESPACE, "--ignore-not-found", check=False)


def test_the_chart_runs_the_cpu_driver_with_nri(env: NodeEnv, cpu_release: None, ns: str) -> None:
    [pod] = plugin_pods(env)
    assert pod_running(pod)
    ready = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
    assert ready["Ready"] == "True"  # /readyz: registered, published and NRI synchronized
    [plugin] = pod["spec"]["containers"]
    mounts = {m["name"]: m["mountPath"] for m in plugin["volumeMounts"]}
    assert mounts["nri-dir"] == str(env.node.nri_socket.parent)
    wait_until(f"the {CPU_DRIVER} slice", lambda: env.slices(CPU_DRIVER), 60)
    [published] = env.slices(CPU_DRIVER)
    [dev] = published["spec"]["devices"]
    assert dev["name"] == "cpudevnuma000"

    run_pods(env.cp, ns, [watcher("shared", ns)])
    apply(env.cp, ns, cpu_template("one-cpu"))
    pods = run_pods(env.cp, ns, [watcher("pinned", ns, "one-cpu")])
    mine = claim_cpus(env, ns, pods["pinned"])
    wait_cpus(env, ns, "pinned", mine)
    wait_cpus(env, ns, "shared", ONLINE - mine)
