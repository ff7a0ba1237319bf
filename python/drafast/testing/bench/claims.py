"""Claim generators for prepare benchmarks: allocated ResourceClaims for a driver's devices, put
into a ``dir:`` store (:class:`DirClaims`) or created on a real API server (:class:`KubeClaims`);
each call makes ``n`` fresh claims and returns their references."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from drafast.k8s import DirStore, allocated_claim
from drafast.testing.cluster.apiclient import ApiClient
from drafast.testing.cluster.pods import pod_manifest
from drafast.types import ClaimRef, ClaimUID

V1 = "/apis/resource.k8s.io/v1"


class ClaimSource(Protocol):
    """``n`` new allocated claims, one device each; their references."""

    def __call__(self, n: int) -> list[ClaimRef]: ...


class DirClaims:
    """Claims in the ``dir:`` store at ``store_root``, allocated to ``driver``: claim ``i`` gets
    ``devices[i % len(devices)]`` of ``pool`` (request ``r``), reserved for pod ``pod-<i>``.
    With ``consumed`` (capacity name -> quantity) each result consumes that much of a
    multi-allocatable device and gets a share ID, as the scheduler writes it."""

    def __init__(
        self,
        store_root: Path,
        *,
        driver: str,
        pool: str,
        devices: Sequence[str],
        namespace: str = "bench",
        consumed: Mapping[str, str] | None = None,
    ) -> None:
        if not devices:
            raise ValueError("no devices to allocate")
        self.store = DirStore(store_root)
        self.driver, self.pool, self.devices, self.namespace = driver, pool, devices, namespace
        self.consumed = dict(consumed or {})
        self._ids = itertools.count()

    def __call__(self, n: int) -> list[ClaimRef]:
        refs = []
        for _ in range(n):
            i = next(self._ids)
            obj = allocated_claim(
                namespace=self.namespace,
                name=f"c{i}",
                driver=self.driver,
                devices=[("r", self.pool, self.devices[i % len(self.devices)])],
                pods=[f"pod-{i}"],
            )
            if self.consumed:
                [result] = obj["status"]["allocation"]["devices"]["results"]
                result["shareID"] = str(uuid.UUID(int=i))
                result["consumedCapacity"] = dict(self.consumed)
            self.store.put("resourceclaims", obj, self.namespace)
            refs.append(
                ClaimRef(
                    namespace=self.namespace, name=f"c{i}", uid=ClaimUID(obj["metadata"]["uid"])
                )
            )
        return refs


class KubeClaims:
    """Claims created through ``api`` (a real kube-apiserver), allocated to ``driver`` like
    :class:`DirClaims` and reserved for real Pods bound to ``node`` (``pods`` of them, made on
    first use and shared round-robin): the resourceclaim controller drops a reservation for a
    pod that does not exist, and a claim without a consumer is not the work a kubelet asks for.
    The pods tolerate every taint, so no eviction takes them away from an idle test node."""

    def __init__(
        self,
        api: ApiClient,
        *,
        driver: str,
        pool: str,
        devices: Sequence[str],
        node: str,
        namespace: str = "bench",
        pods: int = 64,
        prefix: str = "",
    ) -> None:
        if not devices:
            raise ValueError("no devices to allocate")
        self.api, self.driver, self.pool, self.devices = api, driver, pool, devices
        self.node, self.namespace, self.prefix = (
            node,
            namespace,
            prefix or driver.split(".", maxsplit=1)[0],
        )
        self._n_pods = pods
        self._pods: list[tuple[str, str]] = []  # (name, uid)
        self._ids = itertools.count()

    def _consumers(self) -> list[tuple[str, str]]:
        if not self._pods:
            for i in range(self._n_pods):
                pod = pod_manifest(f"{self.prefix}-consumer-{i}", namespace=self.namespace)
                pod["spec"] |= {"nodeName": self.node, "tolerations": [{"operator": "Exists"}]}
                made = self.api.create(f"/api/v1/namespaces/{self.namespace}/pods", pod)
                self._pods.append((made["metadata"]["name"], made["metadata"]["uid"]))
        return self._pods

    def __call__(self, n: int) -> list[ClaimRef]:
        pods = self._consumers()
        refs = []
        base = f"{V1}/namespaces/{self.namespace}/resourceclaims"
        for _ in range(n):
            i = next(self._ids)
            name = f"{self.prefix}-c{i}"
            obj = allocated_claim(
                namespace=self.namespace,
                name=name,
                driver=self.driver,
                devices=[("r", self.pool, self.devices[i % len(self.devices)])],
            )
            pod, uid = pods[i % len(pods)]
            status: dict[str, Any] = obj["status"]
            status["reservedFor"] = [{"resource": "pods", "name": pod, "uid": uid}]
            made = self.api.create(base, {k: v for k, v in obj.items() if k != "status"})
            self.api.request("PUT", f"{base}/{name}/status", {**made, "status": status})
            refs.append(
                ClaimRef(namespace=self.namespace, name=name, uid=ClaimUID(made["metadata"]["uid"]))
            )
        return refs
