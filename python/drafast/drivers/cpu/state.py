"""The CPU driver's private part of a prepared claim (``PreparedClaim.state``), versioned: the
CPUs the claim holds, so a restart rebuilds the allocations before any kubelet or runtime call."""

from __future__ import annotations

from dataclasses import dataclass

from drafast.driver import state_version
from drafast.drivers.cpu.cpulist import format_cpulist, parse_cpulist
from drafast.errors import CpuListError, DriverStateError
from drafast.types import JSON

VERSION = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class CpuClaimState:
    cpus: frozenset[int]

    def to_json(self) -> JSON:
        return {"v": VERSION, "cpus": format_cpulist(self.cpus)}

    @classmethod
    def from_json(cls, doc: JSON) -> CpuClaimState:
        state_version(doc, VERSION, "cpu")
        text = doc.get("cpus")
        if not isinstance(text, str):
            raise DriverStateError("cpu driver state: cpus must be a cpu list string")
        try:
            return cls(cpus=parse_cpulist(text))
        except CpuListError as err:
            raise DriverStateError(f"cpu driver state: {err}") from err
