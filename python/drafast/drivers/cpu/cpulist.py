"""The kernel's cpulist form (``0-3,8,10-11``), parsed into and formatted from ``frozenset[int]``.

The pure-Python reference; ``drafast._native.cpuset_normalize`` takes over on hot paths. Only
the forms sysfs and users write are accepted (ranges and single ids, comma-separated, blanks
around them); the kernel's ``0-31:2/4`` stride form never appears in sysfs and is refused.
"""

from __future__ import annotations

from collections.abc import Iterable

from drafast.errors import CpuListError

__all__ = ["MAX_CPU_ID", "format_cpulist", "parse_cpulist"]

# Linux caps NR_CPUS at 8192; the margin is generous. The cap keeps a typo such as
# ``0-4000000000`` from building a set of four billion ints.
MAX_CPU_ID = 65535


def _cpu_id(text: str, whole: str) -> int:
    if not text.isascii() or not text.isdigit():
        raise CpuListError(f"cpulist {whole!r}: {text!r} is not a CPU number")
    value = int(text)
    if value > MAX_CPU_ID:
        raise CpuListError(f"cpulist {whole!r}: CPU {value} is above {MAX_CPU_ID}")
    return value


def parse_cpulist(text: str) -> frozenset[int]:
    """``"0-3,8"`` -> ``{0, 1, 2, 3, 8}``; blank text is the empty set (a node without CPUs).

    Raises :class:`CpuListError` naming the list and the bad part."""
    whole = text.strip()
    cpus: set[int] = set()
    if not whole:
        return frozenset()
    for raw in whole.split(","):
        part = raw.strip()
        if not part:
            raise CpuListError(f"cpulist {whole!r}: empty element")
        first, dash, last = part.partition("-")
        low = _cpu_id(first.strip(), whole)
        high = _cpu_id(last.strip(), whole) if dash else low
        if high < low:
            raise CpuListError(f"cpulist {whole!r}: range {part!r} runs backwards")
        cpus.update(range(low, high + 1))
    return frozenset(cpus)


def format_cpulist(cpus: Iterable[int]) -> str:
    """``{0, 1, 2, 3, 8}`` -> ``"0-3,8"``: sorted, ranges collapsed, as the kernel writes it."""
    ordered = sorted(set(cpus))
    parts: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(parts)
