"""The one ContainerEdits <-> CDI JSON codec."""

from __future__ import annotations

import orjson

from drafast.resourceapi.cdiedits import edits_from_json, edits_to_json
from drafast.types import ContainerEdits, DeviceNode, Hook, Mount

FULL = ContainerEdits(
    env=("A=1",),
    device_nodes=(
        DeviceNode(path="/dev/x", host_path="/dev/y", type="c", major=1, minor=3, file_mode=0o666,
                   permissions="rw", uid=0, gid=5),
        DeviceNode(path="/dev/z"),
    ),
    mounts=(Mount(host_path="/h", container_path="/c", type="bind", options=("ro", "bind")),),
    hooks=(Hook(hook_name="createContainer", path="/bin/true", args=("true",), env=("E=1",),
                timeout=5),),
)  # fmt: skip


def test_round_trip_keeps_everything() -> None:
    assert edits_from_json(edits_to_json(FULL)) == FULL
    assert edits_from_json(orjson.loads(orjson.dumps(edits_to_json(FULL)))) == FULL


def test_cdi_key_names_order_and_omissions() -> None:
    out = edits_to_json(FULL)
    assert list(out) == ["env", "deviceNodes", "hooks", "mounts"]  # the CDI spec's field order
    assert out["deviceNodes"][1] == {"path": "/dev/z"}  # absent fields are omitted
    assert out["deviceNodes"][0]["uid"] == 0  # ... zeros are not absent
    assert out["hooks"][0] == {
        "hookName": "createContainer", "path": "/bin/true", "args": ["true"], "env": ["E=1"],
        "timeout": 5,
    }  # fmt: skip
    assert edits_to_json(ContainerEdits()) == {}
    bare = edits_to_json(ContainerEdits(mounts=(Mount(host_path="/h", container_path="/c"),)))
    assert bare == {"mounts": [{"hostPath": "/h", "containerPath": "/c"}]}
