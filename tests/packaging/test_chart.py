"""The Helm chart (``deploy/helm/drafast``) through the real helm: lint, render, and what the
rendered objects promise -- settings under drafast's own names, least-privilege RBAC, the
own-node admission policy, safe rolling updates, the kubelet dirs -- and bad values refused."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from drafast.app import schema
from drafast.app.drivers import BUILTIN
from drafast.app.settings import RunOptions
from drafast.testing.bins import helm_binary

pytestmark = pytest.mark.packaging
CHART = Path(__file__).resolve().parents[2] / "deploy" / "helm" / "drafast"
# Set by Kubernetes' in-cluster config, not drafast settings: the chart may set them too.
KUBERNETES_ENV = {"KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"}


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    binary = helm_binary()
    if binary is None:
        pytest.fail("no helm binary: run `make helm-bin`", pytrace=False)
    return subprocess.run(
        [str(binary), *args], capture_output=True, text=True, timeout=120, check=False
    )


def render(*sets: str) -> list[dict[str, Any]]:
    argv = ["template", "rel", str(CHART), "--namespace", "drafast"]
    for s in sets:
        argv += ["--set", s]
    out = helm(*argv)
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


@pytest.mark.parametrize(
    "sets", [[], ["drivers.nx.enabled=true", "drivers.cpu.enabled=true", "podMonitor.enabled=true"]]
)
def test_lint(sets: list[str]) -> None:
    argv = ["lint", str(CHART), "--strict"]
    for s in sets:
        argv += ["--set", s]
    out = helm(*argv)
    assert out.returncode == 0, out.stdout + out.stderr


def test_one_daemonset_per_enabled_node_driver() -> None:
    assert [d["metadata"]["name"] for d in of_kind(render(), "DaemonSet")] == ["rel-file"]
    both = render("drivers.nx.enabled=true")
    assert sorted(d["metadata"]["name"] for d in of_kind(both, "DaemonSet")) == [
        "rel-file",
        "rel-nx",
    ]
    classes = [d["metadata"]["name"] for d in of_kind(both, "DeviceClass")]
    assert sorted(classes) == ["file.drafast.dev", "nx.drafast.dev"]


def test_settings_use_drafasts_own_names() -> None:
    """Every env var the chart sets is one of drafast's settings (or Kubernetes' own), and every
    key of a driver's settings file is one of that driver's settings."""
    docs = render("drivers.nx.enabled=true", "drivers.cpu.enabled=true", "apiServer.host=10.0.0.1")
    common = set(schema.env_names(RunOptions))
    for ds in of_kind(docs, "DaemonSet"):
        key = ds["metadata"]["name"].removeprefix("rel-")
        [container] = ds["spec"]["template"]["spec"]["containers"]
        names = {e["name"] for e in container["env"]}
        own = set(schema.env_names(BUILTIN[key].settings))
        assert names <= common | own | KUBERNETES_ENV, names - common - own - KUBERNETES_ENV
        assert container["args"] == ["run", key, "--config", "/etc/drafast/settings.yaml"]
        [cm] = [c for c in of_kind(docs, "ConfigMap") if c["metadata"]["name"] == f"rel-{key}"]
        keys = set(yaml.safe_load(cm["data"]["settings.yaml"]))
        assert keys <= schema.file_keys(BUILTIN[key].settings), keys


def test_rolling_updates_probes_priority_and_kubelet_dirs() -> None:
    [ds] = of_kind(render("kubeletRootDir=/data/kubelet"), "DaemonSet")
    spec = ds["spec"]["template"]["spec"]
    assert ds["spec"]["updateStrategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    assert spec["priorityClassName"] == "system-node-critical"
    [c] = spec["containers"]
    env = {e["name"]: e for e in c["env"]}
    assert env["POD_UID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.uid"
    assert env["NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
    assert c["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    host = {v["name"]: v["hostPath"]["path"] for v in spec["volumes"] if "hostPath" in v}
    assert host["plugins-dir"] == "/data/kubelet/plugins"
    assert host["registry-dir"] == "/data/kubelet/plugins_registry"
    assert host["cdi-dir"] == "/var/run/cdi"
    assert env["PLUGIN_DIR"]["value"] == "/data/kubelet/plugins/file.drafast.dev"
    types = {v["name"]: v["hostPath"].get("type") for v in spec["volumes"] if "hostPath" in v}
    assert types["plugins-dir"] == types["registry-dir"] == "Directory"  # never made by us
    assert env["REGISTRY_DIR"]["value"] == host["registry-dir"]
    # the API token: pod-bound and rotated, mounted where in-cluster config reads it
    assert spec["automountServiceAccountToken"] is False
    mounts = {m["name"]: m for m in c["volumeMounts"]}
    assert mounts["api-token"]["mountPath"] == "/var/run/secrets/kubernetes.io/serviceaccount"
    [token] = [v for v in spec["volumes"] if v["name"] == "api-token"]
    kinds = [next(iter(src)) for src in token["projected"]["sources"]]
    assert kinds == ["serviceAccountToken", "configMap", "downwardAPI"]


def test_host_network_serves_ops_on_a_pod_socket_and_execs_the_probe() -> None:
    """Two pods of a rolling update share a host-network node's ports, so the ops endpoint moves
    to a Unix socket in the pod and the probes exec `drafast probe` (which reads BIND_ADDRESS)."""
    [ds] = of_kind(render("hostNetwork=true"), "DaemonSet")
    spec = ds["spec"]["template"]["spec"]
    assert spec["hostNetwork"] is True and spec["dnsPolicy"] == "ClusterFirstWithHostNet"
    [c] = spec["containers"]
    assert "ports" not in c
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["BIND_ADDRESS"] == "unix:/run/drafast/ops.sock"
    assert c["livenessProbe"]["exec"]["command"] == ["drafast", "probe", "livez"]
    assert c["readinessProbe"]["exec"]["command"] == ["drafast", "probe", "readyz"]
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    assert mounts["ops"] == "/run/drafast"
    [ops] = [v for v in spec["volumes"] if v["name"] == "ops"]
    assert ops["emptyDir"] == {"medium": "Memory"}
    # ... and without it: the TCP port, HTTP probes, no ops volume
    [ds] = of_kind(render(), "DaemonSet")
    [c] = ds["spec"]["template"]["spec"]["containers"]
    assert c["ports"] == [{"name": "metrics", "containerPort": 8080}]
    assert {e["name"]: e.get("value") for e in c["env"]}["BIND_ADDRESS"] == ":8080"
    assert "hostNetwork" not in ds["spec"]["template"]["spec"]


def test_a_pod_monitor_cannot_scrape_host_network_pods() -> None:
    out = helm(
        "template",
        "rel",
        str(CHART),
        "--set",
        "hostNetwork=true",
        "--set",
        "podMonitor.enabled=true",
    )
    assert out.returncode != 0
    assert "podMonitor.enabled needs hostNetwork=false" in out.stderr, out.stderr


def test_rbac_is_least_privilege_and_per_component() -> None:
    docs = render("drivers.nx.enabled=true")
    roles = {r["metadata"]["name"]: r for r in of_kind(docs, "ClusterRole")}
    assert sorted(roles) == ["rel-file", "rel-nx"]
    for role in roles.values():
        rules = {(r["apiGroups"][0], r["resources"][0]): set(r["verbs"]) for r in role["rules"]}
        assert rules == {
            ("resource.k8s.io", "resourceclaims"): {"get"},
            ("resource.k8s.io", "resourceslices"): {
                "get",
                "list",
                "watch",
                "create",
                "update",
                "delete",
            },
            ("", "nodes"): {"get"},
        }
    for ds in of_kind(docs, "DaemonSet"):
        sa = ds["spec"]["template"]["spec"]["serviceAccountName"]
        [binding] = [b for b in of_kind(docs, "ClusterRoleBinding") if b["roleRef"]["name"] == sa]
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": sa, "namespace": "drafast"}
        ]


def test_the_admission_policy_keeps_a_plugin_to_its_own_node() -> None:
    docs = render()
    [policy] = of_kind(docs, "ValidatingAdmissionPolicy")
    [binding] = of_kind(docs, "ValidatingAdmissionPolicyBinding")
    assert binding["spec"]["policyName"] == policy["metadata"]["name"]
    assert binding["spec"]["validationActions"] == ["Deny"]
    [cond] = policy["spec"]["matchConditions"]
    assert "system:serviceaccount:drafast:rel-file" in cond["expression"]
    assert "authentication.kubernetes.io/node-name" in str(policy["spec"]["variables"])
    assert not of_kind(render("validatingAdmissionPolicy=false"), "ValidatingAdmissionPolicy")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("kubeletRootDir=relative/dir", "kubeletRootDir"),
        ("logLevel=verbose", "logLevel"),
        ("drivers.file.driverName=Bad_Name", "driverName"),
        ("drivers.file.enabled=maybe", "enabled"),
        ("metricsPort=0", "metricsPort"),
        ("drivers.gpu.enabled=true", "gpu"),
        ("image.pullPolicy=Sometimes", "pullPolicy"),
        ("hostNetwork=yes", "hostNetwork"),
    ],
)
def test_bad_values_are_refused_by_the_schema(value: str, message: str) -> None:
    out = helm("template", "rel", str(CHART), "--set", value)
    assert out.returncode != 0
    assert "values don't meet the specifications of the schema" in out.stderr, out.stderr
    assert message in out.stderr, out.stderr


def test_drafast_accepts_what_the_chart_renders(tmp_path: Path) -> None:
    """The rendered env and settings file go through drafast's own settings resolution."""
    import argparse

    from drafast.app.settings import driver_settings, resolve

    docs = render("drivers.nx.enabled=true", "drivers.cpu.enabled=true")
    for ds in of_kind(docs, "DaemonSet"):
        key = ds["metadata"]["name"].removeprefix("rel-")
        [container] = ds["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e.get("value", f"from-{e['name'].lower()}") for e in container["env"]}
        [cm] = [c for c in of_kind(docs, "ConfigMap") if c["metadata"]["name"] == f"rel-{key}"]
        config = tmp_path / f"{key}.yaml"
        config.write_text(cm["data"]["settings.yaml"])
        kind = BUILTIN[key]
        opts = resolve(argparse.Namespace(driver=key, config=str(config)), env, kind)
        assert (opts.driver_name, opts.node_name) == (env["DRIVER_NAME"], "from-node_name")
        assert str(opts.plugin_dir) == env["PLUGIN_DIR"] and opts.cluster == "kube"
        if key == "nx":  # (the file driver's resource dir exists only on a node)
            assert driver_settings(opts, kind).sharing == "exclusive"
        if key == "cpu":
            assert opts.nri_socket == "/var/run/nri/nri.sock"
            assert driver_settings(opts, kind).group_by == "numanode"


def test_the_cpu_driver_mounts_the_runtimes_nri_directory() -> None:
    docs = render("drivers.file.enabled=false", "drivers.cpu.enabled=true")
    [ds] = of_kind(docs, "DaemonSet")
    spec = ds["spec"]["template"]["spec"]
    [c] = spec["containers"]
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["NRI_SOCKET"] == "/var/run/nri/nri.sock"
    [vol] = [v for v in spec["volumes"] if v["name"] == "nri-dir"]
    # the runtime recreates the socket at each start: the directory is mounted, not the socket
    assert vol["hostPath"] == {"path": "/var/run/nri", "type": "DirectoryOrCreate"}
    assert {"name": "nri-dir", "mountPath": "/var/run/nri"} in c["volumeMounts"]
    [cls] = of_kind(docs, "DeviceClass")
    assert cls["metadata"]["name"] == "cpu.drafast.dev"
    off = render("drivers.file.enabled=false", "drivers.cpu.enabled=true", "drivers.cpu.nriSocket=")
    [ds] = of_kind(off, "DaemonSet")
    assert not [v for v in ds["spec"]["template"]["spec"]["volumes"] if v["name"] == "nri-dir"]
