"""The host's CPU topology, read from sysfs the way dra-driver-cpu and the kubelet read it.

:func:`read_topology` reads exactly the files kubernetes-sigs/dra-driver-cpu reads (its
``pkg/cpuinfo``): ``devices/system/cpu/online``, ``.../smt/control``, ``devices/cpu_atom/cpus``
and, per online CPU, ``topology/{physical_package_id,cluster_id,core_id}``, the ``nodeX`` entry
of ``cpuN/`` (with ``devices/system/node/nodeX/cpulist``) and ``cache/index*/{level,id,
shared_cpu_list}``. Two ids are then derived the kubelet's way, because the native packer
(``drafast._native.cpuset_take``, the kubelet static policy's algorithm) must group CPUs exactly
as the kubelet would: :attr:`Cpu.core` and :attr:`Cpu.uncore` (see :func:`_uncore_ids`).

A missing file takes the peer's documented fallback (a CPU without socket, core or NUMA node is
skipped, logged once per read; no ``cluster_id`` is cluster -1; no L3 is l3 -1; unreadable
``smt/control`` is judged by #CPUs > #cores) or, without any ``devices/system/node``, cAdvisor's
(a NUMA node per socket); a present but malformed file is a
:class:`~drafast.errors.TopologyError` whose one line names the file. The reads are small and
synchronous: the driver runs this in a thread.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Literal

from drafast.drivers.cpu.cpulist import format_cpulist
from drafast.drivers.cpu.sysfs import Sysfs
from drafast.errors import TopologyError

__all__ = ["CoreType", "Cpu", "CpuTopology", "read_topology"]

log = logging.getLogger(__name__)

CoreType = Literal["standard", "p-core", "e-core"]

CPU_DIR = "devices/system/cpu"
ONLINE = f"{CPU_DIR}/online"
SMT_CONTROL = f"{CPU_DIR}/smt/control"
E_CORES = "devices/cpu_atom/cpus"  # present only on Intel hybrid parts
NODE_DIR = "devices/system/node"
NODE_CPULIST = NODE_DIR + "/node{}/cpulist"

SMT_ON = frozenset({"on"})
SMT_OFF = frozenset({"off", "forceoff", "notsupported", "notimplemented"})
# The kernel's cluster_id is -1 when the platform has no clusters, printed as an unsigned 16-bit.
CLUSTER_UNDEFINED = 65535

_NODE_ENTRY = re.compile(r"node(\d+)")
_CACHE_INDEX = re.compile(r"index(\d+)")


@dataclass(frozen=True, slots=True, kw_only=True)
class Cpu:
    """One online logical CPU.

    ``core_id`` is the raw sysfs value, which repeats across sockets (and across clusters on
    ARM) and has gaps; ``core`` is the kubelet's CoreID: the lowest online CPU sharing socket,
    cluster and ``core_id``, unique on the machine. ``l3`` is the L3 ``id`` (on ARM without ``id``
    files, the lowest CPU sharing the L3), -1 without an L3; ``uncore`` is the kubelet's
    uncore-cache id, which is not always ``l3`` (see :func:`_uncore_ids`)."""

    id: int
    socket: int
    cluster: int
    core_id: int
    core: int
    numa: int
    l3: int
    uncore: int
    core_type: CoreType
    siblings: tuple[int, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class CpuTopology:
    """The CPUs the driver can use (online, complete topology) and host-wide facts.

    ``online`` is the kernel's online list as read (it may name CPUs skipped for incomplete
    topology; :meth:`cpu_ids` does not)."""

    cpus: Mapping[int, Cpu]
    online: str
    smt_enabled: bool

    def cpu_ids(self) -> frozenset[int]:
        return frozenset(self.cpus)

    def numa_nodes(self) -> tuple[int, ...]:
        return tuple(sorted({cpu.numa for cpu in self.cpus.values()}))

    def sockets(self) -> tuple[int, ...]:
        return tuple(sorted({cpu.socket for cpu in self.cpus.values()}))

    def cpus_in_numa(self, node: int) -> frozenset[int]:
        return frozenset(cpu.id for cpu in self.cpus.values() if cpu.numa == node)

    def cpus_in_socket(self, socket: int) -> frozenset[int]:
        return frozenset(cpu.id for cpu in self.cpus.values() if cpu.socket == socket)

    def cores(self) -> Mapping[int, frozenset[int]]:
        """The kubelet's core id (lowest CPU of the core) -> the core's online CPUs."""
        cores: dict[int, set[int]] = defaultdict(set)
        for cpu in self.cpus.values():
            cores[cpu.core].add(cpu.id)
        return {core: frozenset(cpus) for core, cpus in sorted(cores.items())}

    def arrays(self) -> tuple[list[int], list[int], list[int], list[int], list[int]]:
        """Parallel lists ordered by CPU id: (cpus, sockets, numa_nodes, cores, uncores), the
        arguments of ``drafast._native.CpuTopology``."""
        ordered = [self.cpus[i] for i in sorted(self.cpus)]
        return (
            [c.id for c in ordered],
            [c.socket for c in ordered],
            [c.numa for c in ordered],
            [c.core for c in ordered],
            [c.uncore for c in ordered],
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class _RawCpu:
    """What sysfs says about one CPU, before the kubelet-style ids are derived."""

    id: int
    socket: int
    cluster: int
    core_id: int
    numa: int
    l3: int
    l3_id_file: int | None  # the L3's own ``id``: what cAdvisor (hence the kubelet) can see
    l3_size: int  # how many CPUs share the L3 (``shared_cpu_list``), 0 without one


class _Incomplete(Exception):
    """A CPU lacks a socket, core or NUMA file; carries that file's path."""


def read_topology(host_root: Path) -> CpuTopology:
    """Read ``<host_root>/sys``; raises :class:`TopologyError` naming the file that is wrong."""
    sysfs = Sysfs(host_root)
    online = sysfs.cpulist(ONLINE)
    if online is None:
        raise TopologyError(f"{sysfs.path(ONLINE)}: does not exist")
    e_cores = sysfs.cpulist(E_CORES)
    # A kernel built without NUMA has no node directory at all. cAdvisor then makes each socket
    # a NUMA node (utils/sysinfo/sysinfo.go getCPUTopology), hence so does the kubelet; so do we,
    # where the peer would skip every CPU. None: that case; else node -> its cpulist, read once.
    node_cpus: dict[int, frozenset[int]] | None = None if sysfs.entries(NODE_DIR) is None else {}
    raw: list[_RawCpu] = []
    skipped: dict[int, str] = {}
    for cpu in sorted(online):
        try:
            raw.append(_read_cpu(sysfs, cpu, node_cpus))
        except _Incomplete as gap:
            skipped[cpu] = str(gap)
    if skipped:
        log.warning(
            "CPUs with incomplete topology skipped",
            extra={"cpus": format_cpulist(skipped), "missing": sorted(set(skipped.values()))},
        )
    if not raw:
        raise TopologyError(
            f"{sysfs.path(CPU_DIR)}: no online CPU has a complete topology (socket, core, NUMA)"
        )
    cpus = _derive(raw, e_cores)
    return CpuTopology(
        cpus=MappingProxyType(cpus),
        online=format_cpulist(online),
        smt_enabled=_smt_enabled(sysfs, cpus),
    )


def _read_cpu(sysfs: Sysfs, cpu: int, node_cpus: dict[int, frozenset[int]] | None) -> _RawCpu:
    base = f"{CPU_DIR}/cpu{cpu}"

    def required(rel: str) -> int:
        value = sysfs.integer(f"{base}/{rel}")
        if value is None:
            raise _Incomplete(str(sysfs.path(f"{base}/{rel}")))
        return value

    socket = required("topology/physical_package_id")
    core_id = required("topology/core_id")
    cluster = sysfs.integer(f"{base}/topology/cluster_id")
    numa = socket if node_cpus is None else _numa_node(sysfs, cpu, node_cpus)
    l3, l3_id_file, l3_size = _l3(sysfs, cpu)
    return _RawCpu(
        id=cpu,
        socket=socket,
        cluster=-1 if cluster is None or cluster == CLUSTER_UNDEFINED else cluster,
        core_id=core_id,
        numa=numa,
        l3=l3,
        l3_id_file=l3_id_file,
        l3_size=l3_size,
    )


def _numa_node(sysfs: Sysfs, cpu: int, node_cpus: dict[int, frozenset[int]]) -> int:
    """The ``nodeX`` entry of ``cpuN/``, checked against ``node/nodeX/cpulist`` (read once per
    node): a link the kernel's own node list contradicts is a broken tree, not a fallback."""
    base = f"{CPU_DIR}/cpu{cpu}"
    nodes = [int(m[1]) for m in map(_NODE_ENTRY.fullmatch, sysfs.entries(base) or []) if m]
    if not nodes:
        raise _Incomplete(f"{sysfs.path(base)}/node*")
    node = min(nodes)
    cpulist = NODE_CPULIST.format(node)
    if node not in node_cpus:
        listed = sysfs.cpulist(cpulist)
        if listed is None:
            raise TopologyError(
                f"{sysfs.path(cpulist)}: does not exist (cpu{cpu} is in node{node})"
            )
        node_cpus[node] = listed
    if cpu not in node_cpus[node]:
        listed_text = format_cpulist(node_cpus[node])
        raise TopologyError(
            f"{sysfs.path(cpulist)}: {listed_text!r} does not list cpu{cpu}, "
            f"which {sysfs.path(base)}/node{node} puts there"
        )
    return node


def _l3(sysfs: Sysfs, cpu: int) -> tuple[int, int | None, int]:
    """(l3 id, the ``id`` file's value or None, #CPUs sharing it) of the first level-3 cache.

    Without an ``id`` file (ARM) the peer names the L3 after its lowest CPU; cAdvisor cannot
    read it at all, which :func:`_uncore_ids` needs to know."""
    cache = f"{CPU_DIR}/cpu{cpu}/cache"
    indexes = [m for m in map(_CACHE_INDEX.fullmatch, sysfs.entries(cache) or []) if m]
    for m in sorted(indexes, key=lambda m: int(m[1])):
        index = f"{cache}/{m[0]}"
        if sysfs.integer(f"{index}/level") != 3:
            continue
        shared = sysfs.cpulist(f"{index}/shared_cpu_list")
        if shared is None:
            raise TopologyError(f"{sysfs.path(index)}/shared_cpu_list: does not exist")
        id_file = sysfs.integer(f"{index}/id")
        fallback = min(shared) if shared else cpu
        return (fallback if id_file is None else id_file), id_file, len(shared)
    return -1, None, 0


def _core_type(cpu: int, e_cores: frozenset[int] | None) -> CoreType:
    if e_cores is None:
        return "standard"
    return "e-core" if cpu in e_cores else "p-core"


def _derive(raw: list[_RawCpu], e_cores: frozenset[int] | None) -> dict[int, Cpu]:
    """Group CPUs into cores by (socket, cluster, core_id) and derive the kubelet's ids.

    cAdvisor keys a core by (socket, core_id) within a NUMA node, without the cluster: on
    device-tree ARM, where core_id restarts in every cluster, the kubelet merges cores of
    different clusters into one. We keep them apart, as the peer does: a core id that names
    CPUs which share no core would make "whole cores" meaningless."""
    by_core: dict[tuple[int, int, int], list[int]] = defaultdict(list)
    for r in raw:
        by_core[(r.socket, r.cluster, r.core_id)].append(r.id)
    threads = {cpu: sorted(group) for group in by_core.values() for cpu in group}
    uncore = _uncore_ids(raw, threads)
    return {
        r.id: Cpu(
            id=r.id,
            socket=r.socket,
            cluster=r.cluster,
            core_id=r.core_id,
            core=threads[r.id][0],
            numa=r.numa,
            l3=r.l3,
            uncore=uncore[r.id],
            core_type=_core_type(r.id, e_cores),
            siblings=tuple(c for c in threads[r.id] if c != r.id),
        )
        for r in raw
    }


def _uncore_ids(raw: list[_RawCpu], threads: Mapping[int, list[int]]) -> dict[int, int]:
    """The kubelet's uncore-cache id per CPU, replicating what it is fed.

    kubelet v1.37.2 ``pkg/kubelet/cm/cpumanager/topology/topology.go`` ``getUncoreCacheID``:
    ``core.UncoreCaches[0].Id`` from cAdvisor, else the core's socket id. cAdvisor
    ``utils/sysinfo/sysinfo.go`` ``addCacheInfo`` fills ``UncoreCaches`` per NUMA node, from the
    caches of level > 2 of the core's first thread whose ``shared_cpu_map`` CPU count is not
    ``len(node.Cores) * len(core.Threads)`` (otherwise the cache is node-wide and only listed on
    the node); ``utils/sysfs/sysfs.go`` ``GetCacheInfo`` fails without the cache's ``id`` file, and
    then the node has no cache info at all, so the socket id is used. Hence: the L3 ``id`` when
    the L3 is not node-wide, else (or without L3, or without ``id``) the socket id. Where the
    cAdvisor test misfires (a partly offline node, hybrid cores) the kubelet's ids do too, and
    we keep them: the point is to pack as the kubelet packs. One deliberate difference: cAdvisor
    stops reading a node's caches at the first unreadable cache file, keeping what it read for
    the cores before it; we decide per CPU.
    """
    cores_per_node: dict[int, set[int]] = defaultdict(set)
    for r in raw:
        cores_per_node[r.numa].add(threads[r.id][0])
    result: dict[int, int] = {}
    for r in raw:
        node_wide = r.l3_size == len(cores_per_node[r.numa]) * len(threads[r.id])
        result[r.id] = r.socket if r.l3_id_file is None or node_wide else r.l3_id_file
    return result


def _smt_enabled(sysfs: Sysfs, cpus: Mapping[int, Cpu]) -> bool:
    """``smt/control`` as the peer reads it; unreadable or unknown: SMT if #CPUs > #cores."""
    try:
        control = sysfs.text(SMT_CONTROL)
    except TopologyError:
        control = None
    if control is not None and control.lower() in SMT_ON:
        return True
    if control is not None and control.lower() in SMT_OFF:
        return False
    cores = len({cpu.core for cpu in cpus.values()})
    log.info(
        "SMT state guessed from the CPU and core counts",
        extra={"file": str(sysfs.path(SMT_CONTROL)), "value": control, "cores": cores},
    )
    return len(cpus) > cores
