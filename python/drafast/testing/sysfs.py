"""Fake CPU sysfs trees for CPU-driver tests: a compact :class:`SysfsSpec` in, the files out.

``write_sysfs(tmp_path, two_socket_smt())`` writes ``tmp_path/sys/...`` the way Linux lays it
out (``devices/system/cpu/cpuN/{topology,cache/indexI,nodeX}``, ``devices/system/node/nodeX``,
``online``, ``smt/control``, ``devices/cpu_atom/cpus``), so
``read_topology(tmp_path)`` reads it as it reads a real host. Ready-made shapes:
:func:`this_machine`, :func:`two_socket_smt`, :func:`hybrid_laptop`, :func:`arm_clusters`,
:func:`big_1024`. Offline CPUs keep their ``cpuN`` directory and node link but, as on x86, lose
``topology/`` and ``cache/`` and leave every CPU list.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from drafast.drivers.cpu.cpulist import format_cpulist, parse_cpulist

__all__ = [
    "SysfsSpec",
    "arm_clusters",
    "big_1024",
    "hybrid_laptop",
    "this_machine",
    "two_socket_smt",
    "write_sysfs",
]

#: Where one L3 sits: one per socket, one per NUMA node, one per N cores (AMD CCX-like, never
#: across a NUMA node), or no L3 at all.
L3Scope = Literal["socket", "numa", "none"] | int


@dataclass(frozen=True, slots=True, kw_only=True)
class SysfsSpec:
    """A machine in a few numbers. Cores are laid out socket by socket, NUMA node by NUMA node
    (node id = socket * numa_per_socket + index), P-cores first, then the E-cores."""

    sockets: int = 1
    numa_per_socket: int = 1
    cores_per_numa: int = 2
    threads_per_core: int = 1
    #: single-threaded E-cores after the P-cores of each NUMA node, listed in cpu_atom/cpus
    e_cores_per_numa: int = 0
    #: "split": thread t of core c is cpu c + t * #cores (Intel servers: cpu N and N+64);
    #: "adjacent": a core's threads are consecutive (laptops, POWER, most ARM)
    sibling_numbering: Literal["split", "adjacent"] = "split"
    #: 0: no clusters (cluster_id 65535, as x86 prints -1); else clusters of this many cores
    #: whose core_id restarts at 0, as on ARM device-tree systems
    cores_per_cluster: int = 0
    #: raw core_id gap: core k of a socket (or cluster) has core_id k * core_id_step
    core_id_step: int = 1
    l3: L3Scope = "socket"
    #: False: caches have no ``id`` file (many ARM kernels), only shared_cpu_list
    cache_id_files: bool = True
    #: cpulist of offline CPUs
    offline: str = ""
    #: smt/control content; "auto": "on" with SMT, else "notsupported"; None: no such file
    smt_control: str | None = "auto"
    #: False: a kernel without NUMA (no devices/system/node, no cpuN/nodeX links)
    numa_dirs: bool = True


@dataclass(frozen=True, slots=True)
class _Core:
    socket: int
    numa: int
    cluster: int
    core_id: int
    e_core: bool
    threads: tuple[int, ...]


def this_machine() -> SysfsSpec:
    """The CI host: 1 socket, 2 single-threaded cores, one NUMA node, one L3 for both, no
    clusters, smt/control ``notsupported``."""
    return SysfsSpec(cores_per_numa=2, smt_control="notsupported")


def two_socket_smt() -> SysfsSpec:
    """2 sockets x 32 cores x SMT2, two NUMA nodes per socket (sub-NUMA clustering) under one
    L3 per socket; cpu N and N+64 are siblings; core_id repeats on each socket."""
    return SysfsSpec(sockets=2, numa_per_socket=2, cores_per_numa=16, threads_per_core=2)


def hybrid_laptop() -> SysfsSpec:
    """6 P-cores with SMT (cpus 0-11, siblings adjacent) + 8 E-cores (cpus 12-19) under one L3;
    core_ids with gaps of 4 as Alder Lake prints them."""
    return SysfsSpec(
        cores_per_numa=6,
        threads_per_core=2,
        e_cores_per_numa=8,
        sibling_numbering="adjacent",
        core_id_step=4,
    )


def arm_clusters() -> SysfsSpec:
    """16 single-threaded cores in 4 clusters of 4 (core_id 0-3 in each), one L3 with no ``id``
    files, no smt/control file."""
    return SysfsSpec(
        cores_per_numa=16,
        cores_per_cluster=4,
        sibling_numbering="adjacent",
        cache_id_files=False,
        smt_control=None,
    )


def big_1024() -> SysfsSpec:
    """1024 CPUs: 4 sockets x 128 cores x SMT2, 8 NUMA nodes, one L3 per 8 cores (AMD-like)."""
    return SysfsSpec(sockets=4, numa_per_socket=2, cores_per_numa=64, threads_per_core=2, l3=8)


def _cores(spec: SysfsSpec) -> list[_Core]:
    """Sockets, nodes and core ids first; CPU numbers are assigned afterwards."""
    shapes: list[tuple[int, int, int, int, bool, int]] = []
    per_node = [(False, spec.threads_per_core)] * spec.cores_per_numa
    per_node += [(True, 1)] * spec.e_cores_per_numa
    clusters_per_socket = 0
    if spec.cores_per_cluster:
        clusters_per_socket = -(-len(per_node) * spec.numa_per_socket // spec.cores_per_cluster)
    for socket in range(spec.sockets):
        k = 0  # core index within the socket
        for n in range(spec.numa_per_socket):
            numa = socket * spec.numa_per_socket + n
            for e_core, nthreads in per_node:
                cluster, index = 65535, k
                if spec.cores_per_cluster:
                    cluster = socket * clusters_per_socket + k // spec.cores_per_cluster
                    index = k % spec.cores_per_cluster
                shapes.append((socket, numa, cluster, index * spec.core_id_step, e_core, nthreads))
                k += 1
    threads: list[list[int]] = [[] for _ in shapes]
    next_cpu = 0
    if spec.sibling_numbering == "split":
        for t in range(max(s[5] for s in shapes)):
            for i, shape in enumerate(shapes):
                if t < shape[5]:
                    threads[i].append(next_cpu)
                    next_cpu += 1
    else:
        for i, shape in enumerate(shapes):
            threads[i] = list(range(next_cpu, next_cpu + shape[5]))
            next_cpu += shape[5]
    return [_Core(*shape[:5], threads=tuple(t)) for shape, t in zip(shapes, threads, strict=True)]


def _l3_groups(spec: SysfsSpec, cores: list[_Core]) -> list[tuple[int, list[int]] | None]:
    """Per core (by index): (L3 id, every CPU sharing it), or None without an L3."""
    if spec.l3 == "none":
        return [None] * len(cores)
    keys: list[tuple[int, ...]] = []
    seen_in_node: dict[int, int] = defaultdict(int)
    for core in cores:
        if spec.l3 == "socket":
            keys.append((core.socket,))
        elif spec.l3 == "numa":
            keys.append((core.numa,))
        else:  # one L3 per spec.l3 cores, never across a NUMA node
            keys.append((core.numa, seen_in_node[core.numa] // spec.l3))
            seen_in_node[core.numa] += 1
    members: dict[tuple[int, ...], list[int]] = defaultdict(list)
    for key, core in zip(keys, cores, strict=True):
        members[key].extend(core.threads)
    # socket and NUMA L3s are numbered after their socket or node, CCX-like ones 0, 1, 2, ...
    ids = {key: key[0] if len(key) == 1 else n for n, key in enumerate(sorted(members))}
    return [(ids[key], members[key]) for key in keys]


class _Tree:
    """Collects files and links, then writes them with the fewest system calls (1024-CPU trees
    have ~20k files)."""

    def __init__(self, sys_root: Path) -> None:
        self.root = sys_root
        self.files: dict[str, str] = {}
        self.links: dict[str, str] = {}

    def write(self) -> None:
        for d in sorted({(self.root / rel).parent for rel in [*self.files, *self.links]}):
            d.mkdir(parents=True, exist_ok=True)
        for rel, content in self.files.items():
            (self.root / rel).write_text(content + "\n", encoding="ascii")
        for rel, target in self.links.items():
            (self.root / rel).symlink_to(target)


def write_sysfs(host_root: Path, spec: SysfsSpec) -> Path:
    """Write ``host_root/sys`` for ``spec``; returns ``host_root`` (the driver's host root)."""
    cores = _cores(spec)
    offline = parse_cpulist(spec.offline)
    all_cpus = sorted(cpu for core in cores for cpu in core.threads)
    online = [cpu for cpu in all_cpus if cpu not in offline]
    tree = _Tree(host_root / "sys")
    cpu_dir = "devices/system/cpu"
    tree.files[f"{cpu_dir}/online"] = format_cpulist(online)
    tree.files[f"{cpu_dir}/possible"] = format_cpulist(all_cpus)
    tree.files[f"{cpu_dir}/present"] = format_cpulist(all_cpus)
    tree.files[f"{cpu_dir}/offline"] = format_cpulist(offline)
    smt = spec.smt_control
    if smt == "auto":
        smt = "on" if spec.threads_per_core > 1 else "notsupported"
    if smt is not None:
        tree.files[f"{cpu_dir}/smt/control"] = smt
    if spec.e_cores_per_numa:
        e_cores = [cpu for c in cores if c.e_core for cpu in c.threads]
        p_cores = [cpu for c in cores if not c.e_core for cpu in c.threads]
        tree.files["devices/cpu_atom/cpus"] = format_cpulist(set(e_cores) - offline)
        tree.files["devices/cpu_core/cpus"] = format_cpulist(set(p_cores) - offline)
    l3 = _l3_groups(spec, cores)
    nodes: dict[int, list[int]] = defaultdict(list)
    for core_index, core in enumerate(cores):
        live = [cpu for cpu in core.threads if cpu not in offline]
        for cpu in core.threads:
            base = f"{cpu_dir}/cpu{cpu}"
            tree.files[f"{base}/online"] = "0" if cpu in offline else "1"
            if cpu in offline:
                continue
            nodes[core.numa].append(cpu)
            _write_cpu_topology(tree, base, core, live)
            _write_caches(
                tree,
                spec=spec,
                base=base,
                core_index=core_index,
                live=live,
                l3=l3[core_index],
                offline=offline,
            )
    if spec.numa_dirs:
        _write_nodes(tree, spec, cores, nodes)
    tree.write()
    return host_root


def _write_nodes(
    tree: _Tree, spec: SysfsSpec, cores: list[_Core], nodes: dict[int, list[int]]
) -> None:
    """devices/system/node/nodeX (cpulist, cpuN links) and each cpuN/nodeX link back."""
    for core in cores:
        for cpu in core.threads:
            tree.links[f"devices/system/cpu/cpu{cpu}/node{core.numa}"] = (
                f"../../node/node{core.numa}"
            )
            tree.links[f"devices/system/node/node{core.numa}/cpu{cpu}"] = f"../../cpu/cpu{cpu}"
    for numa in range(spec.sockets * spec.numa_per_socket):
        tree.files[f"devices/system/node/node{numa}/cpulist"] = format_cpulist(nodes[numa])
    tree.files["devices/system/node/online"] = format_cpulist(
        range(spec.sockets * spec.numa_per_socket)
    )


def _write_cpu_topology(tree: _Tree, base: str, core: _Core, live: list[int]) -> None:
    top = f"{base}/topology"
    tree.files[f"{top}/physical_package_id"] = str(core.socket)
    tree.files[f"{top}/cluster_id"] = str(core.cluster)
    tree.files[f"{top}/core_id"] = str(core.core_id)
    tree.files[f"{top}/thread_siblings_list"] = format_cpulist(live)


def _write_caches(
    tree: _Tree,
    *,
    spec: SysfsSpec,
    base: str,
    core_index: int,
    live: list[int],
    l3: tuple[int, list[int]] | None,
    offline: frozenset[int],
) -> None:
    """L1d and L2 per core (index0, index2), the L3 (index3) as ``spec.l3`` says; no L1i
    (index1): nothing reads it, and 1024-CPU trees stay quick to write."""
    caches = [(0, 1, "Data", core_index, live), (2, 2, "Unified", core_index, live)]
    if l3 is not None:
        l3_id, sharing = l3
        caches.append((3, 3, "Unified", l3_id, [cpu for cpu in sharing if cpu not in offline]))
    for index, level, kind, cache_id, shared in caches:
        d = f"{base}/cache/index{index}"
        tree.files[f"{d}/level"] = str(level)
        tree.files[f"{d}/type"] = kind
        tree.files[f"{d}/shared_cpu_list"] = format_cpulist(shared)
        if spec.cache_id_files:
            tree.files[f"{d}/id"] = str(cache_id)
