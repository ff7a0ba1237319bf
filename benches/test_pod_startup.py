"""What a user feels: pod start-up latency on a real node (containerd + kubelet v1.37), with and
without a DRA claim served by drafast's file driver, and the share of it spent in DRA.

Each round creates 10 pods at once (host network, the imported busybox image) and times every pod
from its create call to the moment the API server reports it Running with its container ready
(seen through a watch, so no polling error). The pods are deleted -- and their claims unprepared --
between rounds, outside the timing. Every round checks that all pods reached Running.

The share spent in DRA comes from the kubelet's own histogram ``dra_operations_duration_seconds``
(PrepareResources: the claim GETs plus the NodePrepareResources call) and from drafast's
``drafast_operation_duration_seconds`` (the plugin's side of the call, claim GET included).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drafast.testing.bench import percentiles
from drafast.testing.bins import default_bin_dir, missing_binaries
from drafast.testing.cluster import (
    ControlPlane,
    HostPlugin,
    Node,
    default_node_bin_dir,
    delete_pods,
    missing_node_binaries,
    parse_metrics,
    pod_manifest,
    pod_running,
)

NS = "bench-pods"
PODS_PER_ROUND = 10
ROUNDS = 4  # 40 pods per variant
FILES = 3 * PODS_PER_ROUND  # the file driver allocates each file to one claim at a time
DRIVER = "file.drafast.dev"
DEPLOY = Path(__file__).parents[1] / "deploy" / "file"

pytestmark = pytest.mark.timeout(900)


class Cluster:
    def __init__(self, cp: ControlPlane, node: Node, plugin: HostPlugin) -> None:
        self.cp, self.node, self.plugin = cp, node, plugin


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    bins, node_bins = default_bin_dir(), default_node_bin_dir()
    missing = missing_binaries(bins, ("etcd", "kube-apiserver", "kubectl", "kubelet"))
    missing += missing_node_binaries(node_bins)
    assert not missing, f"missing {missing}: run `make cluster-bins node-bins` first"
    root = tmp_path_factory.mktemp("bench-node")
    cp = ControlPlane.start(bins, root / "cp")
    try:
        node = Node.start(cp, root / "node")
        try:
            files = root / "files"
            files.mkdir()
            for i in range(FILES):
                (files / f"file-{i:02d}").write_text("")
            cp.kubectl("apply", "-f", str(DEPLOY / "deviceclass.yaml"))
            cp.api.create(
                "/api/v1/namespaces",
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}},
            )
            cp.api.create(
                f"/apis/resource.k8s.io/v1/namespaces/{NS}/resourceclaimtemplates",
                {
                    "apiVersion": "resource.k8s.io/v1",
                    "kind": "ResourceClaimTemplate",
                    "metadata": {"name": "any-file"},
                    "spec": {
                        "spec": {
                            "devices": {
                                "requests": [
                                    {"name": "file", "exactly": {"deviceClassName": DRIVER}}
                                ]
                            }
                        }
                    },
                },
            )
            plugin = HostPlugin.start(
                node,
                root / "drafast",
                settings={"resource_dir": files},
                common={"log_level": "warning"},
            )
            try:
                yield Cluster(cp, node, plugin)
            finally:
                plugin.stop()
        finally:
            node.stop()
    finally:
        cp.stop()


class PodWatch:
    """Streams pod events of one namespace; records when each pod is first seen running."""

    def __init__(self, cp: ControlPlane, namespace: str) -> None:
        self.cp, self.namespace = cp, namespace
        self.running_at: dict[str, float] = {}
        self._cond = threading.Condition()
        rv = cp.api.get(f"/api/v1/namespaces/{namespace}/pods")["metadata"]["resourceVersion"]
        url = urllib.parse.urlsplit(cp.server)
        ctx = ssl.create_default_context(cafile=str(cp.ca_file))
        self._conn = http.client.HTTPSConnection(url.hostname or "", url.port, context=ctx)
        self._conn.request(
            "GET",
            f"/api/v1/namespaces/{namespace}/pods?watch=true&resourceVersion={rv}"
            "&allowWatchBookmarks=false&timeoutSeconds=600",
            headers={"Authorization": f"Bearer {cp.token}"},
        )
        self._resp = self._conn.getresponse()
        assert self._resp.status == 200, self._resp.read()[:500]
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for line in self._resp:
                now = time.monotonic()
                ev = json.loads(line)
                pod = ev.get("object") or {}
                name = pod.get("metadata", {}).get("name")
                if name and ev.get("type") != "DELETED" and pod_running(pod):
                    with self._cond:
                        self.running_at.setdefault(name, now)
                        self._cond.notify_all()
        except (OSError, ValueError, AttributeError, http.client.HTTPException):
            return  # closed by close()

    def wait(self, names: list[str], timeout: float) -> dict[str, float]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not all(n in self.running_at for n in names):
                left = deadline - time.monotonic()
                if left <= 0:
                    missing = [n for n in names if n not in self.running_at]
                    raise AssertionError(f"pods not Running after {timeout:.0f}s: {missing}")
                self._cond.wait(left)
            return {n: self.running_at[n] for n in names}

    def close(self) -> None:
        sock = self._conn.sock
        if sock is not None:  # EOF for the reader thread, then close
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(10)
        self._conn.close()


def _hist(
    samples: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str
) -> float:
    return sum(
        v for lab, v in samples.get(name, []) if all(lab.get(k) == x for k, x in labels.items())
    )


def _dra_totals(c: Cluster) -> dict[str, float]:
    k = parse_metrics(c.node.kubelet_metrics())
    d = c.plugin.metrics()
    op = {"operation_name": "PrepareResources", "is_error": "false"}
    return {
        "kubelet_sum": _hist(k, "dra_operations_duration_seconds_sum", **op),
        "kubelet_count": _hist(k, "dra_operations_duration_seconds_count", **op),
        "grpc_sum": _hist(
            k,
            "dra_grpc_operations_duration_seconds_sum",
            driver_name=DRIVER,
            method_name="/k8s.io.kubelet.pkg.apis.dra.v1.DRAPlugin/NodePrepareResources",
        ),
        "drafast_sum": _hist(d, "drafast_operation_duration_seconds_sum", operation="prepare"),
        "drafast_count": _hist(d, "drafast_operation_duration_seconds_count", operation="prepare"),
    }


@pytest.mark.parametrize("with_claim", [False, True], ids=["no-claim", "dra-claim"])
def test_pod_startup(benchmark: Any, cluster: Cluster, with_claim: bool) -> None:
    cp = cluster.cp
    samples: list[float] = []
    rounds = iter(range(10_000))
    current: list[str] = []
    tag = "c" if with_claim else "p"

    def setup() -> None:
        delete_pods(cp, NS, current, timeout=120)
        if with_claim:  # the claims of the last round are gone (devices free again)
            deadline = time.monotonic() + 60
            while cp.api.get(f"/apis/resource.k8s.io/v1/namespaces/{NS}/resourceclaims")["items"]:
                assert time.monotonic() < deadline, "claims not deleted after their pods"
                time.sleep(0.1)
        current.clear()

    def one_round() -> None:
        r = next(rounds)
        names = [f"{tag}{r}-{i}" for i in range(PODS_PER_ROUND)]
        claims = {"f": {"resourceClaimTemplateName": "any-file"}} if with_claim else {}
        watch = PodWatch(cp, NS)
        try:
            created: dict[str, float] = {}
            for n in names:
                created[n] = time.monotonic()
                cp.api.create(
                    f"/api/v1/namespaces/{NS}/pods",
                    pod_manifest(n, namespace=NS, claims=claims, node_name=cluster.node.name),
                )
            current.extend(names)
            running = watch.wait(names, 120)
        finally:
            watch.close()
        samples.extend(running[n] - created[n] for n in names)

    before = _dra_totals(cluster)
    benchmark.pedantic(one_round, setup=setup, rounds=ROUNDS, iterations=1)
    setup()
    after = _dra_totals(cluster)
    delta = {k: after[k] - before[k] for k in before}

    assert len(samples) == ROUNDS * PODS_PER_ROUND
    stats = percentiles(samples)
    stats["rounds"] = len(samples)  # pods measured
    mean = sum(samples) / len(samples)
    extra: dict[str, Any] = {"pods": len(samples), "mean_startup_ms": round(mean * 1e3, 1)}
    if with_claim:
        assert delta["drafast_count"] >= len(samples), delta  # every pod's claim was prepared
        # per pod: everything the kubelet spent preparing its claim (claim GET + gRPC call)
        kubelet_ms = delta["kubelet_sum"] / len(samples) * 1e3
        drafast_ms = delta["drafast_sum"] / len(samples) * 1e3
        grpc_ms = delta["grpc_sum"] / len(samples) * 1e3
        extra |= {
            "kubelet_prepare_ms": round(kubelet_ms, 2),
            "grpc_prepare_ms": round(grpc_ms, 2),
            "drafast_prepare_ms": round(drafast_ms, 2),
            "dra_share_pct": round(100 * kubelet_ms / 1e3 / mean, 2),
            "drafast_share_pct": round(100 * drafast_ms / 1e3 / mean, 2),
        }
    benchmark.extra_info.update(stats | extra)
