"""The NX driver's private part of a prepared claim (``PreparedClaim.state``), versioned."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from drafast.driver import state_version
from drafast.drivers.nx.inventory import Sharing
from drafast.errors import DriverStateError
from drafast.types import JSON, DeviceName

VERSION = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class NxClaimState:
    """The credits the claim holds per accelerator (0 in exclusive mode) and the sharing mode
    it was prepared under."""

    holds: Mapping[DeviceName, int] = field(default_factory=dict)
    sharing: Sharing = Sharing.EXCLUSIVE

    def to_json(self) -> JSON:
        return {"v": VERSION, "holds": dict(self.holds), "sharing": str(self.sharing)}

    @classmethod
    def from_json(cls, doc: JSON) -> NxClaimState:
        """Version 1 (``v`` absent in records written before it was versioned) or refuse."""
        state_version(doc, VERSION, "nx")
        holds: Any = doc.get("holds", {})
        if not isinstance(holds, dict) or not all(
            isinstance(c, int) and not isinstance(c, bool) for c in holds.values()
        ):
            raise DriverStateError("nx driver state: holds must map device names to credits")
        try:
            sharing = Sharing(doc.get("sharing", Sharing.EXCLUSIVE))
        except ValueError:
            raise DriverStateError(f"nx driver state: sharing {doc.get('sharing')!r}") from None
        return cls(holds={DeviceName(str(d)): c for d, c in holds.items()}, sharing=sharing)
