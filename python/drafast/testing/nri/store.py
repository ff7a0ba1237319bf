"""What the runtime stand-in holds: pods and containers, and how it applies NRI results to them
the way containerd does (fact sheet §5): unknown container IDs are skipped, an empty cpuset
means "unchanged", later updates win."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from drafast.nri import convert
from drafast.nri.proto import api_pb2 as api


@dataclass(frozen=True, slots=True, kw_only=True)
class RuntimePod:
    id: str
    name: str
    uid: str
    namespace: str = "default"

    def proto(self) -> api.PodSandbox:
        return api.PodSandbox(id=self.id, name=self.name, uid=self.uid, namespace=self.namespace)


@dataclass(frozen=True, slots=True, kw_only=True)
class RuntimeContainer:
    """A container as the runtime's store (its OCI spec) has it."""

    id: str
    pod_id: str
    name: str
    env: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    cpus: str = ""
    mems: str = ""
    state: int = api.CONTAINER_RUNNING

    def proto(self, *, state: int | None = None) -> api.Container:
        c = api.Container(
            id=self.id,
            pod_sandbox_id=self.pod_id,
            name=self.name,
            state=self.state if state is None else state,  # type: ignore[arg-type]
            env=convert.env_entries(self.env),
            annotations=dict(self.annotations),
        )
        # As containerd sends them: resources always present, cpuset "" when unrestricted.
        c.linux.resources.cpu.cpus = self.cpus
        c.linux.resources.cpu.mems = self.mems
        return c


class Store:
    """Pods and containers by ID."""

    def __init__(self) -> None:
        self.pods: dict[str, RuntimePod] = {}
        self.containers: dict[str, RuntimeContainer] = {}
        self._ids = itertools.count(1)

    def pod(self, pod: RuntimePod | str, *, namespace: str = "default") -> RuntimePod:
        """The pod, added if new; a name makes ``sb-<name>`` / ``uid-<name>``."""
        if isinstance(pod, str):
            pod = self.pods.get(f"sb-{pod}") or RuntimePod(
                id=f"sb-{pod}", name=pod, uid=f"uid-{pod}", namespace=namespace
            )
        self.pods.setdefault(pod.id, pod)
        return pod

    def new_id(self) -> str:
        return f"ctr-{next(self._ids)}"

    def live(self) -> tuple[list[api.PodSandbox], list[api.Container]]:
        """What a Synchronize carries: every pod and every container not stopped."""
        pods = [p.proto() for p in self.pods.values()]
        containers = [
            c.proto() for c in self.containers.values() if c.state != api.CONTAINER_STOPPED
        ]
        return pods, containers

    def sync_requests(self, limit: int | None) -> list[api.SynchronizeRequest]:
        """The live pods and containers as one Synchronize, or, when that is over ``limit``
        bytes, as pages of at most about ``limit`` (pods first; all but the last with
        ``more``)."""
        pods, containers = self.live()
        whole = api.SynchronizeRequest(pods=pods, containers=containers)
        if limit is None or whole.ByteSize() <= limit:
            return [whole]
        return paged(pods, containers, limit)

    def apply(self, updates: Iterable[api.ContainerUpdate]) -> list[str]:
        """Apply updates; returns the IDs that were unknown (and skipped)."""
        unknown = []
        for u in updates:
            c = self.containers.get(u.container_id)
            if c is None:
                unknown.append(u.container_id)
                continue
            self.containers[c.id] = with_cpuset(c, u.linux.resources)
        return unknown


def with_cpuset(c: RuntimeContainer, resources: api.LinuxResources) -> RuntimeContainer:
    cpus, mems = convert.cpuset_of(resources)
    return replace(c, cpus=cpus or c.cpus, mems=mems or c.mems)


def adjusted(c: RuntimeContainer, adjust: api.ContainerAdjustment) -> RuntimeContainer:
    """A container being created, with a plugin's adjustment applied."""
    c = with_cpuset(c, adjust.linux.resources)
    env = dict(c.env)
    for kv in adjust.env:
        env[kv.key] = kv.value
    return replace(c, env=env, annotations={**c.annotations, **adjust.annotations})


def paged(
    pods: list[api.PodSandbox], containers: list[api.Container], limit: int
) -> list[api.SynchronizeRequest]:
    """Chunks of about ``limit`` bytes at most, pods first, all but the last with ``more``."""
    chunks: list[api.SynchronizeRequest] = []
    chunk, size = api.SynchronizeRequest(more=True), 2
    items: list[api.PodSandbox | api.Container] = [*pods, *containers]
    for item in items:
        n = item.ByteSize() + 6  # tag and length prefix
        if size + n > limit and (chunk.pods or chunk.containers):
            chunks.append(chunk)
            chunk, size = api.SynchronizeRequest(more=True), 2
        if isinstance(item, api.PodSandbox):
            chunk.pods.append(item)
        else:
            chunk.containers.append(item)
        size += n
    chunks.append(chunk)
    chunks[-1].more = False
    return chunks
