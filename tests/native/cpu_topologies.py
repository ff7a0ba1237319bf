"""CPU topologies for the cpuset tests and benchmarks: the named hosts the kubelet oracle test
must cover, seeded random ones (symmetric, asymmetric, sockets and NUMA nodes not nested), and
seeded random free sets. A topology is plain per-CPU arrays, the ``CpuTopology`` arguments."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class Arrays:
    name: str
    cpus: list[int]
    sockets: list[int]
    numa_nodes: list[int]
    cores: list[int]
    uncores: list[int]

    def args(self) -> tuple[list[int], list[int], list[int], list[int], list[int]]:
        return (self.cpus, self.sockets, self.numa_nodes, self.cores, self.uncores)

    def as_json(self) -> dict[str, list[int]]:
        return {
            "cpus": self.cpus,
            "sockets": self.sockets,
            "numa_nodes": self.numa_nodes,
            "cores": self.cores,
            "uncores": self.uncores,
        }


def from_cores(name: str, cores: list[tuple[list[int], int, int, int]]) -> Arrays:
    """``cores``: (its CPUs, socket, NUMA node, uncore) per physical core; the core id is the
    lowest CPU, as the kubelet computes it."""
    rows = sorted(
        (cpu, socket, numa, min(cpus), uncore)
        for cpus, socket, numa, uncore in cores
        for cpu in cpus
    )
    cpu, socket, numa, core, uncore = (list(col) for col in zip(*rows, strict=True))
    return Arrays(name=name, cpus=cpu, sockets=socket, numa_nodes=numa, cores=core, uncores=uncore)


def symmetric(
    sockets: int,
    cores_per_socket: int,
    threads: int,
    *,
    numa_per_socket: int = 1,
    uncores_per_numa: int = 1,
    uncore_is_socket: bool = False,
    name: str = "",
) -> Arrays:
    """Linux numbering: core c's threads are c, c + cores, c + 2*cores, ... (siblings far apart)."""
    total = sockets * cores_per_socket
    per_numa = max(cores_per_socket // numa_per_socket, 1)
    per_uncore = max(per_numa // uncores_per_numa, 1)
    rows = []
    for c in range(total):
        socket = c // cores_per_socket
        numa = c // per_numa
        uncore = socket if uncore_is_socket else c // per_uncore
        rows.append(([c + t * total for t in range(threads)], socket, numa, uncore))
    label = name or f"{sockets}s x {cores_per_socket}c x SMT{threads}, {numa_per_socket} NUMA/s"
    return from_cores(label, rows)


def named() -> list[Arrays]:
    """The hosts the kubelet oracle test must cover."""
    return [
        symmetric(1, 2, 1, name="1 socket x 2 CPUs"),
        symmetric(1, 1, 2, name="1 socket x 1 core x SMT2"),
        symmetric(2, 32, 2, numa_per_socket=2, uncores_per_numa=2, name="2s x 32c x SMT2, 4 NUMA"),
        hybrid(),
        symmetric(2, 64, 1, numa_per_socket=2, uncore_is_socket=True, name="ARM 2s x 64c, no L3"),
        big_1024(),
    ]


def hybrid() -> Arrays:
    """Intel hybrid-like: 8 P-cores with SMT2 (CPUs 0-15, siblings adjacent) and 16 E-cores
    (CPUs 16-31) in one socket and one L3; CPUsPerCore = 32 / 24 = 1."""
    p_cores = [([2 * i, 2 * i + 1], 0, 0, 0) for i in range(8)]
    e_cores = [([16 + i], 0, 0, 0) for i in range(16)]
    return from_cores("hybrid 8P(SMT2) + 16E", p_cores + e_cores)


def big_1024() -> Arrays:
    """4 sockets x 128 cores x SMT2 = 1024 CPUs, 2 NUMA nodes per socket (8), 8-core L3s."""
    return symmetric(
        4, 128, 2, numa_per_socket=2, uncores_per_numa=8, name="1024 CPUs: 4s x 128c x SMT2"
    )


def random_topology(rng: random.Random) -> Arrays:
    kind = rng.randrange(4)
    sockets = rng.choice([1, 1, 2, 2, 4])
    cores = rng.choice([1, 2, 3, 4, 6, 8])
    if kind == 0:  # symmetric
        return symmetric(
            sockets,
            cores,
            rng.choice([1, 2, 2, 4]),
            numa_per_socket=rng.choice([1, 1, 2]),
            uncores_per_numa=rng.choice([1, 2]),
            uncore_is_socket=rng.random() < 0.2,
            name=f"random symmetric {kind}",
        )
    rows = []
    next_cpu = 0
    total = sockets * cores
    numa_width = rng.choice([1, 2, 3, cores, 2 * cores])  # kind 3 may cross sockets
    for c in range(total):
        socket = c // cores
        numa = c // numa_width if kind == 3 else socket * 2 + (c % cores) * 2 // cores
        threads = rng.choice([1, 2, 2, 3]) if kind >= 1 else 2
        cpus = list(range(next_cpu, next_cpu + threads))
        next_cpu += threads + rng.choice([0, 0, 1])  # holes: offline CPUs
        if kind == 2 and len(cpus) > 1 and rng.random() < 0.3:
            cpus.pop()  # an offlined sibling
        uncore = rng.choice([socket, numa, 100 + c // 2])
        rows.append((cpus, socket, numa, uncore))
    return from_cores(f"random asymmetric {kind}", rows)


def random_free(rng: random.Random, topo: Arrays) -> list[int]:
    """A free set: everything, a random subset, or whole cores / NUMA nodes taken."""
    how = rng.randrange(5)
    cpus = topo.cpus
    if how == 0:
        return list(cpus)
    if how == 1:
        p = rng.random()
        return [c for c in cpus if rng.random() > p]
    if how == 2:
        taken = {core for core in topo.cores if rng.random() < 0.4}
        return [c for c, core in zip(cpus, topo.cores, strict=True) if core not in taken]
    if how == 3:
        taken = {n for n in topo.numa_nodes if rng.random() < 0.4}
        return [c for c, n in zip(cpus, topo.numa_nodes, strict=True) if n not in taken]
    # scattered: every CPU whose (index * seed) hits a residue
    step = rng.randrange(2, 7)
    return [c for i, c in enumerate(cpus) if i % step != 0]


def half_taken_scattered(topo: Arrays) -> list[int]:
    """Half the CPUs taken in a scattered pattern (the benchmark's busy host): every other
    core's first thread, whole cores in every third L3, and a sprinkle of single CPUs."""
    free = []
    for i, (cpu, core, uncore) in enumerate(zip(topo.cpus, topo.cores, topo.uncores, strict=True)):
        busy = (core % 2 == 0 and cpu == core) or uncore % 3 == 0 or i % 7 == 3
        if not busy:
            free.append(cpu)
    return free
