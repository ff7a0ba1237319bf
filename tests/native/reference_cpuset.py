"""Pure-Python reference for ``_native.cpuset_normalize`` / ``cpuset_take`` / ``CpuTopology``
(rust/cpuset): kubelet v1.37.2 ``cpu_assignment.go`` written out plainly, on dicts and sets,
the way the Go code reads (``details`` maps CPU -> place and shrinks as CPUs are taken).

Also reproduces what Go's ``append`` does to the combinations the distributed algorithm keeps
(see rust/cpuset/src/combinations.rs), and deviates where the kubelet would loop forever (see
rust/cpuset/src/distributed.rs)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from drafast.errors import CpuAllocationError, CpuListError

MAX_CPU_ID = 16383
BLANKS = " \t\n\r\x0c"

# ----------------------------------------------------------------------------- cpulist


def _quote(text: str) -> str:
    """Rust's ``{:?}`` for the strings the tests use (ASCII, common escapes)."""
    escapes = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r"}
    out = []
    for c in text:
        if c in escapes:
            out.append(escapes[c])
        elif c.isprintable():
            out.append(c)
        else:
            out.append(f"\\u{{{ord(c):x}}}")
    return '"' + "".join(out) + '"'


def parse(text: str) -> set[int]:
    def fail(pos: int, reason: str) -> CpuListError:
        return CpuListError(f"malformed cpulist {_quote(text)} at position {pos}: {reason}")

    start = len(text) - len(text.lstrip(BLANKS))
    end = len(text.rstrip(BLANKS))
    if start >= end:
        return set()
    out: set[int] = set()
    pos = start

    def number() -> int:
        nonlocal pos
        begin = pos
        while pos < end and text[pos] in "0123456789":
            pos += 1
        if begin == pos:
            raise fail(begin, "expected a CPU number")
        digits = text[begin:pos]
        if int(digits) > MAX_CPU_ID:
            raise fail(begin, f"CPU id {digits} is above {MAX_CPU_ID}")
        return int(digits)

    while True:
        entry = pos
        if pos == end or text[pos] == ",":
            raise fail(entry, "empty entry")
        first = number()
        last = first
        if pos < end and text[pos] == "-":
            pos += 1
            last = number()
        if first > last:
            raise fail(entry, f"range {first}-{last} is reversed")
        out.update(range(first, last + 1))
        if pos == end:
            return out
        if text[pos] != ",":
            raise fail(pos, "expected ',' or the end")
        pos += 1


def format_cpus(cpus: Iterable[int]) -> str:
    parts: list[str] = []
    ordered = sorted(set(cpus))
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(parts)


def normalize(text: str) -> str:
    return format_cpus(parse(text))


# ----------------------------------------------------------------------------- topology


@dataclass(frozen=True, slots=True)
class Place:
    socket: int
    numa: int
    core: int
    uncore: int


class Topology:
    """The kubelet's CPUTopology built from per-CPU arrays (same checks as the native one)."""

    def __init__(
        self,
        cpus: Sequence[int],
        sockets: Sequence[int],
        numa_nodes: Sequence[int],
        cores: Sequence[int],
        uncores: Sequence[int],
    ) -> None:
        n = len(cpus)
        for i, cpu in enumerate(cpus):
            if not 0 <= cpu <= MAX_CPU_ID:
                raise ValueError(f"cpus[{i}]: CPU id {cpu} is not in 0..{MAX_CPU_ID}")
        named = [("sockets", sockets), ("numa_nodes", numa_nodes), ("cores", cores)]
        for name, values in [*named, ("uncores", uncores)]:
            if len(values) != n:
                raise ValueError(
                    f"topology arrays differ in length: {n} cpus but {len(values)} {name}"
                )
        if n == 0:
            raise ValueError("topology has no CPUs")
        self.details: dict[int, Place] = {}
        home: dict[int, Place] = {}
        for i, cpu in enumerate(cpus):
            if cpu in self.details:
                raise ValueError(f"CPU {cpu} is listed twice")
            place = Place(sockets[i], numa_nodes[i], cores[i], uncores[i])
            first = home.setdefault(place.core, place)
            if first != place:
                what = (
                    "sockets"
                    if first.socket != place.socket
                    else "NUMA nodes"
                    if first.numa != place.numa
                    else "uncore caches"
                )
                raise ValueError(
                    f"core {place.core} spans two {what} (CPU {cpu} differs from its core siblings)"
                )
            self.details[cpu] = place
        self.num_cpus = n
        self.num_cores = len(home)
        self.num_sockets = len(set(sockets))
        self.num_numa_nodes = len(set(numa_nodes))
        self.num_uncores = len(set(uncores))
        self.cpus_per_core = n // self.num_cores
        self.cpus_per_socket = n // self.num_sockets
        self.cpus_per_uncore = n // self.num_uncores

    @property
    def cpus(self) -> str:
        return format_cpus(self.details)

    def numa_above_sockets(self) -> bool:
        return self.num_sockets >= self.num_numa_nodes


# The kubelet's CPUDetails helpers, over any {cpu: Place} map.
Details = dict[int, Place]


def cpus_where(d: Details, attr: str, ids: Iterable[int]) -> set[int]:
    wanted = set(ids)
    return {cpu for cpu, p in d.items() if getattr(p, attr) in wanted}


def ids_where(d: Details, attr: str, of: str, ids: Iterable[int]) -> set[int]:
    """``d.<Attr>sIn<Of>s(ids)``: the ``attr`` ids of CPUs whose ``of`` id is in ``ids``."""
    wanted = set(ids)
    return {getattr(p, attr) for p in d.values() if getattr(p, of) in wanted}


def all_ids(d: Details, attr: str) -> set[int]:
    return {getattr(p, attr) for p in d.values()}


# ----------------------------------------------------------------------------- Go slices


class GoSlices:
    """Backing arrays of Go slices, so that ``append`` aliasing is reproduced."""

    def __init__(self) -> None:
        self.arrays: list[list[int]] = []

    def empty(self) -> tuple[int, int, int]:
        self.arrays.append([])
        return (len(self.arrays) - 1, 0, 0)

    def append(self, s: tuple[int, int, int], x: int) -> tuple[int, int, int]:
        array, length, cap = s
        if length < cap:
            self.arrays[array][length] = x
            return (array, length + 1, cap)
        new_cap = length + 1 if length + 1 > 2 * cap else 2 * cap
        backing = self.arrays[array][:length] + [x] + [0] * (new_cap - length - 1)
        self.arrays.append(backing)
        return (len(self.arrays) - 1, length + 1, new_cap)

    def get(self, s: tuple[int, int, int]) -> list[int]:
        return self.arrays[s[0]][: s[1]]


def iterate_combinations(
    slices: GoSlices,
    n: Sequence[int],
    k: int,
    f: Callable[[list[int], tuple[int, int, int]], bool],
) -> None:
    """The kubelet's ``iterateCombinations``; ``f`` returns True to break."""
    if k < 1:
        return

    def helper(k: int, start: int, accum: tuple[int, int, int]) -> bool:
        if k == 0:
            return f(slices.get(accum), accum)
        for i in range(start, len(n) - k + 1):
            if helper(k - 1, i + 1, slices.append(accum, n[i])):
                return True
        return False

    helper(k, 0, slices.empty())


# ----------------------------------------------------------------------------- packed


class NotEnoughError(Exception):
    pass


class KubeletFailure(Exception):
    """One of the kubelet algorithm's own errors (message as the native one)."""


class Accumulator:
    def __init__(self, topo: Topology, available: set[int], needed: int) -> None:
        self.topo = topo
        self.details: Details = {c: p for c, p in topo.details.items() if c in available}
        self.needed = needed
        self.result: set[int] = set()

    def take(self, cpus: set[int]) -> None:
        self.result |= cpus
        self.details = {c: p for c, p in self.details.items() if c not in self.result}
        self.needed -= len(cpus)

    def satisfied(self) -> bool:
        return self.needed < 1

    def failed(self) -> bool:
        return self.needed > len(self.details)

    def free_count(self, attr: str) -> Callable[[int], int]:
        return lambda gid: len(cpus_where(self.details, attr, [gid]))

    def sort(self, ids: Iterable[int], attr: str) -> list[int]:
        count = self.free_count(attr)
        return sorted(ids, key=lambda g: (count(g), g))

    def sorted_numas(self) -> list[int]:
        d = self.details
        if self.topo.numa_above_sockets():
            return self.sort(all_ids(d, "numa"), "numa")
        out: list[int] = []
        for socket in self.sorted_sockets():
            out += self.sort(ids_where(d, "numa", "socket", [socket]), "numa")
        return out

    def sorted_sockets(self) -> list[int]:
        d = self.details
        if not self.topo.numa_above_sockets():
            return self.sort(all_ids(d, "socket"), "socket")
        out: list[int] = []
        for numa in self.sorted_numas():
            out += self.sort(ids_where(d, "socket", "numa", [numa]), "socket")
        return out

    def sorted_cores(self) -> list[int]:
        d = self.details
        out: list[int] = []
        if self.topo.numa_above_sockets():
            for socket in self.sorted_sockets():
                out += self.sort(ids_where(d, "core", "socket", [socket]), "core")
        else:
            for numa in self.sorted_numas():
                out += self.sort(ids_where(d, "core", "numa", [numa]), "core")
        return out

    def sorted_uncores(self) -> list[int]:
        out: list[int] = []
        for numa in self.sorted_numas():
            out += self.sort(ids_where(self.details, "uncore", "numa", [numa]), "uncore")
        return out

    def sorted_cpus(self) -> list[int]:
        out: list[int] = []
        for core in self.sorted_cores():
            out += sorted(cpus_where(self.details, "core", [core]))
        return out

    def _take_whole(self, attr: str, free_ids: list[int]) -> None:
        for gid in free_ids:
            cpus = cpus_where(self.topo.details, attr, [gid])
            if self.needed >= len(cpus):
                self.take(cpus)

    def take_full_numas(self) -> None:
        full = self.topo.details
        free = [
            n
            for n in self.sorted_numas()
            if len(cpus_where(self.details, "numa", [n])) == len(cpus_where(full, "numa", [n]))
        ]
        self._take_whole("numa", free)

    def take_full_sockets(self) -> None:
        per = self.topo.cpus_per_socket
        count = self.free_count("socket")
        self._take_whole("socket", [s for s in self.sorted_sockets() if count(s) == per])

    def take_full_uncores(self) -> None:
        full = self.topo.details
        free = [
            u
            for u in self.sorted_uncores()
            if len(cpus_where(self.details, "uncore", [u])) == len(cpus_where(full, "uncore", [u]))
        ]
        self._take_whole("uncore", free)

    def take_partial_uncore(self, uncore: int) -> None:
        per_core = self.topo.cpus_per_core
        cores_needed = (self.needed + per_core - 1) // per_core
        cores = sorted(ids_where(self.details, "core", "uncore", [uncore]))[:cores_needed]
        cpus = cpus_where(self.details, "core", cores)
        if self.needed % 2 != 0 and per_core > 1:
            ordered = sorted(cpus)
            if len(ordered) > self.needed:
                ordered = ordered[:-1]
            cpus = set(ordered)
        if self.needed == len(cpus):
            self.take(cpus)

    def take_uncore_caches(self) -> None:
        for uncore in self.sorted_uncores():
            if self.needed >= self.topo.cpus_per_uncore:
                self.take_full_uncores()
            if self.satisfied():
                return
            self.take_partial_uncore(uncore)
            if self.satisfied():
                return

    def take_full_cores(self) -> None:
        per = self.topo.cpus_per_core
        count = self.free_count("core")
        self._take_whole("core", [c for c in self.sorted_cores() if count(c) == per])

    def take_remaining_cpus(self) -> None:
        for cpu in self.sorted_cpus():
            self.take({cpu})
            if self.satisfied():
                return


def take_packed(topo: Topology, available: set[int], n: int, prefer_uncore: bool) -> set[int]:
    acc = Accumulator(topo, available, n)
    if acc.satisfied():
        return acc.result
    if acc.failed():
        raise KubeletFailure(
            "not enough cpus available to satisfy request: "
            f"requested={n}, available={len(available)}"
        )
    steps = [acc.take_full_numas, acc.take_full_sockets]
    if not topo.numa_above_sockets():
        steps.reverse()
    if prefer_uncore:
        steps.append(acc.take_uncore_caches)
    steps += [acc.take_full_cores, acc.take_remaining_cpus]
    for step in steps:
        step()
        if acc.satisfied():
            return acc.result
    raise KubeletFailure("failed to allocate cpus")


# ----------------------------------------------------------------------------- distributed


def _round3(x: float) -> float:
    # Go's math.Round: half away from zero (Python's round() is half to even).
    return math.copysign(math.floor(abs(x * 1000) + 0.5), x) / 1000


def standard_deviation(values: list[int]) -> float:
    mean = _round3(sum(float(v) for v in values) / len(values))
    squares = 0.0
    for v in values:
        squares += (v - mean) * (v - mean)
    return _round3(math.sqrt(squares / len(values)))


@dataclass(slots=True)
class _Best:
    """The best choice so far in one walk (the kubelet's bestBalance / bestCombo / ...)."""

    balance: float = math.inf
    handle: tuple[int, int, int] | None = None
    remainder: list[int] | None = None


def take_distributed(topo: Topology, available: set[int], n: int, group: int) -> set[int]:
    group = max(group, 1)
    if n % group != 0:
        return take_packed(topo, available, n, False)
    acc = Accumulator(topo, available, n)
    if acc.satisfied():
        return acc.result
    if acc.failed():
        raise KubeletFailure(
            "not enough cpus available to satisfy request: "
            f"requested={n}, available={len(available)}"
        )
    # rangeNUMANodesNeededToSatisfy
    groups = (topo.num_cpus - 1) // group + 1
    groups_per_numa = (groups - 1) // topo.num_numa_nodes + 1
    groups_needed = (acc.needed - 1) // group + 1
    min_numas = (groups_needed - 1) // groups_per_numa + 1
    max_numas = min(groups_needed, len(all_ids(acc.details, "numa")))
    for k in range(min_numas, max_numas + 1):
        slices = GoSlices()
        best = _best_combo(acc, slices, k, n, group)
        if best.handle is None:
            continue
        # Read now: the walk may have rewritten the kept combination (Go append aliasing).
        return allocate(acc, slices.get(best.handle), best.remainder, n, group)
    return take_packed(topo, available, n, False)


def _best_combo(acc: Accumulator, slices: GoSlices, k: int, n: int, group: int) -> _Best:
    # acc is untouched until a combination is chosen, so its NUMA order is the same every k.
    numas = acc.sorted_numas()
    best = _Best()

    def free_in(numa: int) -> int:
        return len(cpus_where(acc.details, "numa", [numa]))

    def consider(combo: list[int], handle: tuple[int, int, int]) -> bool:
        if best.balance == 0:
            return True
        if len(cpus_where(acc.details, "numa", combo)) < n:
            return False
        if sum(free_in(m) // group for m in combo) * group < n:
            return False
        distribution = n // len(combo) // group * group
        if any(free_in(m) < distribution for m in combo):
            return False
        after = {m: free_in(m) for m in numas}
        for m in combo:
            after[m] -= distribution
        remainder = n - distribution * len(combo)
        local = place_remainder(after, combo, remainder, group)
        if local.balance < best.balance:
            best.balance, best.handle, best.remainder = local.balance, handle, local.remainder
        return False

    iterate_combinations(slices, numas, k, consider)
    return best


def place_remainder(after: dict[int, int], combo: list[int], remainder: int, group: int) -> _Best:
    if remainder == 0:
        return _Best(balance=standard_deviation(sorted_values(after)))
    candidates = [m for m in combo if after[m] >= group]
    best = _Best()
    slices = GoSlices()

    def consider(subset: list[int], handle: tuple[int, int, int]) -> bool:
        left = dict(after)
        if sum(left[m] for m in subset) < remainder:
            return False
        rest = remainder
        while rest > 0:
            before = rest
            for m in subset:
                if rest == 0:
                    break
                if left[m] < group:
                    continue
                left[m] -= group
                rest -= group
            if rest == before:
                return False  # the kubelet spins here forever
        balance = standard_deviation(sorted_values(left))
        if balance < best.balance:
            best.balance, best.handle = balance, handle
        return False

    for k in range(len(candidates), 0, -1):
        iterate_combinations(slices, candidates, k, consider)
    if best.handle is not None:
        best.remainder = slices.get(best.handle)
    return best


def sorted_values(after: dict[int, int]) -> list[int]:
    return [after[m] for m in sorted(after)]


def allocate(
    acc: Accumulator, combo: list[int], remainder_numas: list[int] | None, n: int, group: int
) -> set[int]:
    def free_cpus(numa: int) -> set[int]:
        return cpus_where(acc.details, "numa", [numa])

    def take_from(numa: int, count: int) -> None:
        try:
            cpus = take_packed(acc.topo, free_cpus(numa), count, False)
        except KubeletFailure:
            cpus = set()
        acc.take(cpus)

    distribution = n // len(combo) // group * group
    for m in combo:
        distribution = min(distribution, len(free_cpus(m)) // group * group)
    for m in combo:
        take_from(m, distribution)
    remainder = n - distribution * len(combo)
    while remainder > 0:
        before = remainder
        for m in remainder_numas or []:
            if remainder == 0:
                break
            if len(free_cpus(m)) < group:
                continue
            take_from(m, group)
            remainder -= group
        if remainder == before:
            raise KubeletFailure(
                f"the distribution across NUMA nodes cannot place the remaining {remainder} CPUs"
            )
    if acc.needed > 0:
        raise KubeletFailure(
            f"accounting error, not enough CPUs allocated, remaining: {acc.needed}"
        )
    if acc.needed < 0:
        raise KubeletFailure(f"accounting error, too many CPUs allocated, remaining: {acc.needed}")
    return acc.result


# ----------------------------------------------------------------------------- policy


def take(
    topo: Topology,
    free: str,
    count: int,
    *,
    spread_numa: bool = False,
    full_cores: bool = False,
    prefer_uncore: bool = True,
) -> str:
    free_set = parse(free)
    outside = free_set - topo.details.keys()
    if outside:
        raise CpuListError(
            f"free cpulist {_quote(free)}: CPUs {format_cpus(outside)} are not in the topology"
            f" ({topo.cpus})"
        )

    def refuse(reason: str) -> CpuAllocationError:
        return CpuAllocationError(f"asked for {count} CPUs, {len(free_set)} free: {reason}")

    if count < 1:
        raise refuse("at least one CPU must be asked for")
    if count > len(free_set):
        raise refuse("not enough free CPUs")
    per_core = topo.cpus_per_core
    core_cpus: dict[int, set[int]] = {}
    for cpu, p in topo.details.items():
        core_cpus.setdefault(p.core, set()).add(cpu)
    if full_cores:
        if count % per_core:
            raise refuse(
                f"whole cores only, and {count} is not a multiple of {per_core} CPUs per core"
            )
        whole = sum(len(c) for c in core_cpus.values() if c <= free_set)
        if count > whole:
            raise refuse(f"whole cores only, and the free whole cores hold {whole} CPUs")

    def kubelet(available: set[int], n: int) -> set[int]:
        try:
            if spread_numa:
                return take_distributed(topo, available, n, per_core if full_cores else 1)
            return take_packed(topo, available, n, prefer_uncore)
        except KubeletFailure as err:
            raise refuse(f"the kubelet's algorithm failed: {err}") from None

    picked = kubelet(free_set, count)
    text = format_cpus(picked)
    if picked <= free_set and len(picked) == count:
        if full_cores:
            touched: set[int] = set()
            for cpu in picked:
                touched |= core_cpus[topo.details[cpu].core]
            split = touched - picked
            if split:
                raise refuse(
                    f"whole cores only, and the kubelet's pick {text} leaves core siblings "
                    f"{format_cpus(split)} out"
                )
        return text
    if full_cores:
        busy = picked - free_set
        why = (
            f"busy: {format_cpus(busy)}; its whole-core/socket test uses per-core/socket "
            "averages, wrong on this asymmetric topology"
            if busy
            else f"it has {len(picked)} (a socket or NUMA node not nested in the other was "
            "counted twice)"
        )
        raise refuse(
            f"whole cores only, and the kubelet's pick {text} is not {count} free CPUs ({why})"
        )
    # Repair: keep the free CPUs, ask again for the rest from the CPUs still free.
    kept = picked & free_set
    while len(kept) < count:
        rest = free_set - kept
        again = kubelet(rest, count - len(kept))
        more = again & rest
        if not more:
            raise refuse(
                f"the kubelet's picks ({text}, then {format_cpus(again)}) hold too few free CPUs "
                "on this asymmetric topology"
            )
        kept |= more
    if len(kept) > count:
        raise refuse(f"the repaired pick {format_cpus(kept)} has more than {count} CPUs")
    return format_cpus(kept)
