"""Containers as drivers with runtime hooks see them (:mod:`drafast.types`; imported on first
use)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerRef:
    """A container as the runtime reports it, in runtime-neutral terms (the NRI edge converts)."""

    id: str
    name: str
    pod_uid: str
    pod_namespace: str
    pod_name: str
    env: Mapping[str, str] = field(default_factory=dict)
    """The container's environment, CDI edits applied (claim env vars identify claims)."""
    annotations: Mapping[str, str] = field(default_factory=dict)
    cpuset_cpus: str = ""
    """The container's current cpuset in kernel cpulist form (empty: unknown or unrestricted)."""
    cpuset_mems: str = ""
    state: str = ""
    """``created``, ``paused``, ``running`` or ``stopped``; empty when the runtime does not know
    (always so for a container being created: it is not in the runtime's store yet)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerUpdate:
    """A change to an existing container's resources (applied by the runtime)."""

    container_id: str
    cpuset_cpus: str | None = None
    cpuset_mems: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerAdjustment:
    """Changes to a container being created, and updates of other containers that follow
    from it (e.g. the shared pool shrinking when an exclusive container starts)."""

    cpuset_cpus: str | None = None
    cpuset_mems: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    updates: tuple[ContainerUpdate, ...] = ()
