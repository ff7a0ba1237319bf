"""NRI protos <-> the runtime-neutral container types of :mod:`drafast.types`. Pure functions.

The runtime reads an empty cpuset as "unchanged", never as "no CPUs" or "all CPUs", so an
adjustment asking for ``""`` is refused (the create fails naming the container) and an update
asking for ``""`` is dropped (it would be a no-op on the runtime anyway): either way a container
is never silently left on CPUs a driver meant to take away from it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence

from drafast.errors import PermanentError
from drafast.nri.proto import api_pb2 as api
from drafast.types import ContainerAdjustment, ContainerRef, ContainerUpdate

logger = logging.getLogger(__name__)

_STATES = {
    api.CONTAINER_CREATED: "created",
    api.CONTAINER_PAUSED: "paused",
    api.CONTAINER_RUNNING: "running",
    api.CONTAINER_STOPPED: "stopped",
}


def env_mapping(entries: Iterable[str]) -> dict[str, str]:
    """``["K=V", ...]`` as a mapping; a later duplicate wins (as exec does), an entry without
    ``=`` maps to ``""``."""
    env: dict[str, str] = {}
    for entry in entries:
        key, _, value = entry.partition("=")
        env[key] = value
    return env


def container_ref(container: api.Container, pod: api.PodSandbox | None) -> ContainerRef:
    """The container as hooks see it; ``pod`` may be None (a sync that lost its pod)."""
    cpu = container.linux.resources.cpu
    return ContainerRef(
        id=container.id,
        name=container.name,
        pod_uid=pod.uid if pod is not None else "",
        pod_namespace=pod.namespace if pod is not None else "",
        pod_name=pod.name if pod is not None else "",
        env=env_mapping(container.env),
        annotations=dict(container.annotations),
        cpuset_cpus=cpu.cpus,
        cpuset_mems=cpu.mems,
        state=_STATES.get(container.state, ""),
    )


def container_refs(
    containers: Iterable[api.Container], pods: Iterable[api.PodSandbox]
) -> list[ContainerRef]:
    """A Synchronize's containers, each with its pod (looked up by sandbox ID)."""
    by_id = {p.id: p for p in pods}
    return [container_ref(c, by_id.get(c.pod_sandbox_id)) for c in containers]


def _set_cpuset(resources: api.LinuxResources, cpus: str | None, mems: str | None) -> None:
    if cpus is not None:
        resources.cpu.cpus = cpus
    if mems is not None:
        resources.cpu.mems = mems


def update_proto(update: ContainerUpdate) -> api.ContainerUpdate | None:
    """The wire form of one update; None for one that changes nothing on the runtime."""
    cpus = update.cpuset_cpus or None
    mems = update.cpuset_mems or None
    if update.cpuset_cpus == "" or update.cpuset_mems == "":
        logger.warning(
            "empty cpuset in a container update dropped (the runtime reads it as unchanged)",
            extra={"container_id": update.container_id},
        )
    if cpus is None and mems is None:
        return None
    out = api.ContainerUpdate(container_id=update.container_id)
    _set_cpuset(out.linux.resources, cpus, mems)
    return out


def update_protos(updates: Iterable[ContainerUpdate]) -> list[api.ContainerUpdate]:
    return [u for u in map(update_proto, updates) if u is not None]


def adjustment_proto(container_id: str, adjust: ContainerAdjustment) -> api.CreateContainerResponse:
    """The reply to a CreateContainer: the adjustment of ``container_id`` and the updates of
    other containers. Raises :class:`PermanentError` for an empty cpuset (see the module)."""
    if adjust.cpuset_cpus == "" or adjust.cpuset_mems == "":
        raise PermanentError(
            f"container {container_id}: empty cpuset in its adjustment (the runtime would leave"
            " it on every CPU)"
        )
    reply = api.CreateContainerResponse()
    if adjust.cpuset_cpus is not None or adjust.cpuset_mems is not None:
        _set_cpuset(reply.adjust.linux.resources, adjust.cpuset_cpus, adjust.cpuset_mems)
    for key, value in adjust.env.items():
        reply.adjust.env.add(key=key, value=value)
    for key, value in adjust.annotations.items():
        reply.adjust.annotations[key] = value
    reply.update.extend(update_protos(adjust.updates))
    return reply


def cpuset_of(resources: api.LinuxResources) -> tuple[str, str]:
    """(cpus, mems) of a resources message ("" where unset)."""
    return resources.cpu.cpus, resources.cpu.mems


def updates_from(protos: Sequence[api.ContainerUpdate]) -> list[ContainerUpdate]:
    """Wire updates back to values (the runtime side: the test kit's stand-in)."""
    return [
        ContainerUpdate(
            container_id=u.container_id,
            cpuset_cpus=u.linux.resources.cpu.cpus or None,
            cpuset_mems=u.linux.resources.cpu.mems or None,
        )
        for u in protos
    ]


def env_entries(env: Mapping[str, str]) -> list[str]:
    """A mapping as ``["K=V", ...]`` (the runtime side)."""
    return [f"{k}={v}" for k, v in env.items()]
