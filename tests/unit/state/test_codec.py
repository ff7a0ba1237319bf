import pytest

from drafast.errors import CheckpointError
from drafast.state.codec import ClaimRecord, decode_record, encode_record
from drafast.types import (
    ClaimRef,
    ClaimUID,
    ContainerEdits,
    DeviceName,
    DeviceNode,
    Hook,
    Mount,
    PoolName,
    PreparedClaim,
    PreparedDevice,
)


def test_round_trip_keeps_everything() -> None:
    edits = ContainerEdits(
        env=("A=1",),
        device_nodes=(DeviceNode(path="/dev/x", major=1, minor=3, permissions="rw"),),
        mounts=(Mount(host_path="/h", container_path="/c", options=("ro", "bind")),),
        hooks=(Hook(hook_name="createContainer", path="/bin/true", args=("true",), timeout=5),),
    )
    rec = ClaimRecord(
        ref=ClaimRef(namespace="ns", name="n", uid=ClaimUID("u1")),
        prepared=PreparedClaim(
            devices=(
                PreparedDevice(
                    requests=("r/s",),
                    pool=PoolName("p"),
                    device=DeviceName("d"),
                    edits=edits,
                    share_id="s1",
                    cdi_device_ids=("v/c=x",),
                ),
                PreparedDevice(requests=("q",), pool=PoolName("p"), device=DeviceName("e")),
            ),
            state={"files": ["/a"], "nested": {"k": [1, 2]}},
        ),
        cdi_ids=(("k/c=u1-d", "v/c=x"), ()),
    )
    assert decode_record(encode_record(rec), "ckpt") == rec


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"not json", "ckpt \\[u\\]: malformed claim record"),
        (b'{"v": 99}', "unsupported record version 99"),
        (b'{"v": 1, "namespace": "n"}', "malformed claim record"),
    ],
)
def test_bad_records_name_the_file(raw: bytes, message: str) -> None:
    with pytest.raises(CheckpointError, match=message):
        decode_record(raw, "ckpt [u]")
