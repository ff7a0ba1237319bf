import pytest

from drafast.drivers.file.state import FileClaimState
from drafast.errors import DriverStateError


def test_round_trip_and_records_from_before_the_version_field() -> None:
    state = FileClaimState(files=("/f/a",), lines=("ns/p claim=u",))
    assert state.to_json() == {"v": 1, "files": ["/f/a"], "lines": ["ns/p claim=u"]}
    assert FileClaimState.from_json(state.to_json()) == state
    assert FileClaimState.from_json({"files": ["/f/a"], "lines": ["ns/p claim=u"]}) == state


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"v": 2, "files": []}, "file driver state version 2: this drafast reads version 1"),
        ({"files": 5}, "files must be a list of strings"),
        ({"files": ["a"], "lines": [1]}, "lines must be a list of strings"),
    ],
)
def test_unreadable_state_is_refused_by_name(doc: dict[str, object], message: str) -> None:
    with pytest.raises(DriverStateError, match=message):
        FileClaimState.from_json(doc)
