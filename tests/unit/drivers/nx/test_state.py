import pytest

from drafast.drivers.nx.inventory import Sharing
from drafast.drivers.nx.state import NxClaimState
from drafast.errors import DriverStateError
from drafast.types import DeviceName


def test_round_trip_and_records_from_before_the_version_field() -> None:
    state = NxClaimState(holds={DeviceName("nx-gzip"): 2}, sharing=Sharing.SHARED)
    assert NxClaimState.from_json(state.to_json()) == state
    assert NxClaimState.from_json({"holds": {"nx-gzip": 2}, "sharing": "shared"}) == state


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"v": 2}, "nx driver state version 2: this drafast reads version 1"),
        ({"holds": {"x": "2"}}, "holds must map device names to credits"),
        ({"holds": 5}, "holds must map device names to credits"),
        ({"holds": {"x": True}}, "holds must map device names to credits"),
        ({"sharing": "sometimes"}, "sharing 'sometimes'"),
    ],
)
def test_unreadable_state_is_refused_by_name(doc: dict[str, object], message: str) -> None:
    with pytest.raises(DriverStateError, match=message):
        NxClaimState.from_json(doc)
