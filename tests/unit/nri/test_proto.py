"""The generated NRI and ttrpc descriptors agree with the fact sheet (§3, §4): field numbers
and types define the wire, so every message is checked against the sheet's table."""

from __future__ import annotations

import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from drafast.nri import names
from drafast.nri.proto import api_pb2 as api
from drafast.nri.proto import ttrpc_pb2

S, I64, U32, U64, I32, B, BY = "string", "int64", "uint32", "uint64", "int32", "bool", "bytes"
_TYPES = {
    FieldDescriptor.TYPE_STRING: S,
    FieldDescriptor.TYPE_INT64: I64,
    FieldDescriptor.TYPE_UINT32: U32,
    FieldDescriptor.TYPE_UINT64: U64,
    FieldDescriptor.TYPE_INT32: I32,
    FieldDescriptor.TYPE_BOOL: B,
    FieldDescriptor.TYPE_BYTES: BY,
}


def shape(d: Descriptor) -> dict[str, tuple[int, str]]:
    """name -> (number, type); "rep " for repeated; maps as "map"; messages and enums by name."""
    out = {}
    for f in d.fields:
        if f.message_type is not None and f.message_type.GetOptions().map_entry:
            kind = "map"
        elif f.message_type is not None:
            kind = f.message_type.name
        elif f.enum_type is not None:
            kind = f.enum_type.name
        else:
            kind = _TYPES[f.type]
        rep = "rep " if f.is_repeated and kind != "map" else ""
        out[f.name] = (f.number, rep + kind)
    return out


OPT = {
    "OptionalString": S,
    "OptionalInt": I64,
    "OptionalInt32": I32,
    "OptionalUInt32": U32,
    "OptionalInt64": I64,
    "OptionalUInt64": U64,
    "OptionalBool": B,
    "OptionalFileMode": U32,
}

EXPECTED: dict[str, dict[str, tuple[int, str]]] = {
    "RegisterPluginRequest": {"plugin_name": (1, S), "plugin_idx": (2, S), "NRI_version": (3, S)},
    "UpdateContainersRequest": {
        "update": (1, "rep ContainerUpdate"),
        "evict": (2, "rep ContainerEviction"),
    },
    "UpdateContainersResponse": {"failed": (1, "rep ContainerUpdate")},
    "ConfigureRequest": {
        "config": (1, S),
        "runtime_name": (2, S),
        "runtime_version": (3, S),
        "registration_timeout": (4, I64),
        "request_timeout": (5, I64),
        "NRI_version": (6, S),
    },
    "ConfigureResponse": {"events": (2, I32)},
    "SynchronizeRequest": {
        "pods": (1, "rep PodSandbox"),
        "containers": (2, "rep Container"),
        "more": (3, B),
    },
    "SynchronizeResponse": {"update": (1, "rep ContainerUpdate"), "more": (2, B)},
    "CreateContainerRequest": {"pod": (1, "PodSandbox"), "container": (2, "Container")},
    "CreateContainerResponse": {
        "adjust": (1, "ContainerAdjustment"),
        "update": (2, "rep ContainerUpdate"),
        "evict": (3, "rep ContainerEviction"),
    },
    "UpdateContainerRequest": {
        "pod": (1, "PodSandbox"),
        "container": (2, "Container"),
        "linux_resources": (3, "LinuxResources"),
    },
    "UpdateContainerResponse": {
        "update": (1, "rep ContainerUpdate"),
        "evict": (2, "rep ContainerEviction"),
    },
    "StopContainerRequest": {"pod": (1, "PodSandbox"), "container": (2, "Container")},
    "StopContainerResponse": {"update": (1, "rep ContainerUpdate")},
    "StateChangeEvent": {
        "event": (1, "Event"),
        "pod": (2, "PodSandbox"),
        "container": (3, "Container"),
    },
    "Empty": {},
    "PodSandbox": {
        "id": (1, S),
        "name": (2, S),
        "uid": (3, S),
        "namespace": (4, S),
        "labels": (5, "map"),
        "annotations": (6, "map"),
        "runtime_handler": (7, S),
        "linux": (8, "LinuxPodSandbox"),
        "pid": (9, U32),
        "ips": (10, "rep string"),
    },
    "LinuxPodSandbox": {
        "pod_overhead": (1, "LinuxResources"),
        "pod_resources": (2, "LinuxResources"),
        "cgroup_parent": (3, S),
        "cgroups_path": (4, S),
        "namespaces": (5, "rep LinuxNamespace"),
        "resources": (6, "LinuxResources"),
    },
    "Container": {
        "id": (1, S),
        "pod_sandbox_id": (2, S),
        "name": (3, S),
        "state": (4, "ContainerState"),
        "labels": (5, "map"),
        "annotations": (6, "map"),
        "args": (7, "rep string"),
        "env": (8, "rep string"),
        "mounts": (9, "rep Mount"),
        "hooks": (10, "Hooks"),
        "linux": (11, "LinuxContainer"),
        "pid": (12, U32),
        "rlimits": (13, "rep POSIXRlimit"),
    },
    "LinuxContainer": {
        "namespaces": (1, "rep LinuxNamespace"),
        "devices": (2, "rep LinuxDevice"),
        "resources": (3, "LinuxResources"),
        "oom_score_adj": (4, "OptionalInt"),
        "cgroups_path": (5, S),
    },
    "LinuxResources": {
        "memory": (1, "LinuxMemory"),
        "cpu": (2, "LinuxCPU"),
        "hugepage_limits": (3, "rep HugepageLimit"),
        "blockio_class": (4, "OptionalString"),
        "rdt_class": (5, "OptionalString"),
        "unified": (6, "map"),
        "devices": (7, "rep LinuxDeviceCgroup"),
        "pids": (8, "LinuxPids"),
    },
    "LinuxCPU": {
        "shares": (1, "OptionalUInt64"),
        "quota": (2, "OptionalInt64"),
        "period": (3, "OptionalUInt64"),
        "realtime_runtime": (4, "OptionalInt64"),
        "realtime_period": (5, "OptionalUInt64"),
        "cpus": (6, S),
        "mems": (7, S),
    },
    "LinuxMemory": {
        "limit": (1, "OptionalInt64"),
        "reservation": (2, "OptionalInt64"),
        "swap": (3, "OptionalInt64"),
        "kernel": (4, "OptionalInt64"),
        "kernel_tcp": (5, "OptionalInt64"),
        "swappiness": (6, "OptionalUInt64"),
        "disable_oom_killer": (7, "OptionalBool"),
        "use_hierarchy": (8, "OptionalBool"),
    },
    "ContainerAdjustment": {
        "annotations": (2, "map"),
        "mounts": (3, "rep Mount"),
        "env": (4, "rep KeyValue"),
        "hooks": (5, "Hooks"),
        "linux": (6, "LinuxContainerAdjustment"),
        "rlimits": (7, "rep POSIXRlimit"),
        "CDI_devices": (8, "rep CDIDevice"),
    },
    "LinuxContainerAdjustment": {
        "devices": (1, "rep LinuxDevice"),
        "resources": (2, "LinuxResources"),
        "cgroups_path": (3, S),
        "oom_score_adj": (4, "OptionalInt"),
    },
    "ContainerUpdate": {
        "container_id": (1, S),
        "linux": (2, "LinuxContainerUpdate"),
        "ignore_failure": (3, B),
    },
    "LinuxContainerUpdate": {"resources": (1, "LinuxResources")},
    "ContainerEviction": {"container_id": (1, S), "reason": (2, S)},
    "KeyValue": {"key": (1, S), "value": (2, S)},
    "Mount": {
        "destination": (1, S),
        "type": (2, S),
        "source": (3, S),
        "options": (4, "rep string"),
    },
    "Hooks": {
        name: (i, "rep Hook")
        for i, name in enumerate(
            [
                "prestart",
                "create_runtime",
                "create_container",
                "start_container",
                "poststart",
                "poststop",
            ],
            1,
        )
    },
    "Hook": {
        "path": (1, S),
        "args": (2, "rep string"),
        "env": (3, "rep string"),
        "timeout": (4, "OptionalInt"),
    },
    "LinuxNamespace": {"type": (1, S), "path": (2, S)},
    "LinuxDevice": {
        "path": (1, S),
        "type": (2, S),
        "major": (3, I64),
        "minor": (4, I64),
        "file_mode": (5, "OptionalFileMode"),
        "uid": (6, "OptionalUInt32"),
        "gid": (7, "OptionalUInt32"),
    },
    "LinuxDeviceCgroup": {
        "allow": (1, B),
        "type": (2, S),
        "major": (3, "OptionalInt64"),
        "minor": (4, "OptionalInt64"),
        "access": (5, S),
    },
    "HugepageLimit": {"page_size": (1, S), "limit": (2, U64)},
    "POSIXRlimit": {"type": (1, S), "hard": (2, U64), "soft": (3, U64)},
    "CDIDevice": {"name": (1, S)},
    "LinuxPids": {"limit": (1, I64)},
    **{name: {"value": (1, kind)} for name, kind in OPT.items()},
}


def test_every_message_is_checked() -> None:
    assert set(api.DESCRIPTOR.message_types_by_name) == set(EXPECTED)


@pytest.mark.parametrize("message", sorted(EXPECTED))
def test_field_numbers_and_types(message: str) -> None:
    assert shape(api.DESCRIPTOR.message_types_by_name[message]) == EXPECTED[message]


def test_enums() -> None:
    state = api.DESCRIPTOR.enum_types_by_name["ContainerState"]
    assert {v.name: v.number for v in state.values} == {
        "CONTAINER_UNKNOWN": 0,
        "CONTAINER_CREATED": 1,
        "CONTAINER_PAUSED": 2,
        "CONTAINER_RUNNING": 3,
        "CONTAINER_STOPPED": 4,
    }
    event = api.DESCRIPTOR.enum_types_by_name["Event"]
    assert [v.name for v in event.values] == [
        "UNKNOWN",
        "RUN_POD_SANDBOX",
        "STOP_POD_SANDBOX",
        "REMOVE_POD_SANDBOX",
        "CREATE_CONTAINER",
        "POST_CREATE_CONTAINER",
        "START_CONTAINER",
        "POST_START_CONTAINER",
        "UPDATE_CONTAINER",
        "POST_UPDATE_CONTAINER",
        "STOP_CONTAINER",
        "REMOVE_CONTAINER",
        "LAST",
    ]
    assert [v.number for v in event.values] == list(range(13))
    assert names.event_mask(range(1, 12)) == names.VALID_EVENTS


def test_services_and_methods() -> None:
    services = {
        s.full_name: {m.name: (m.input_type.name, m.output_type.name) for m in s.methods}
        for s in api.DESCRIPTOR.services_by_name.values()
    }
    assert services == {
        names.RUNTIME_SERVICE: {
            names.REGISTER_PLUGIN: ("RegisterPluginRequest", "Empty"),
            names.UPDATE_CONTAINERS: ("UpdateContainersRequest", "UpdateContainersResponse"),
        },
        names.PLUGIN_SERVICE: {
            names.CONFIGURE: ("ConfigureRequest", "ConfigureResponse"),
            names.SYNCHRONIZE: ("SynchronizeRequest", "SynchronizeResponse"),
            names.SHUTDOWN: ("Empty", "Empty"),
            names.CREATE_CONTAINER: ("CreateContainerRequest", "CreateContainerResponse"),
            names.UPDATE_CONTAINER: ("UpdateContainerRequest", "UpdateContainerResponse"),
            names.STOP_CONTAINER: ("StopContainerRequest", "StopContainerResponse"),
            names.STATE_CHANGE: ("StateChangeEvent", "Empty"),
        },
    }


def test_ttrpc_envelope() -> None:
    msgs = ttrpc_pb2.DESCRIPTOR.message_types_by_name
    assert shape(msgs["Request"]) == {
        "service": (1, S),
        "method": (2, S),
        "payload": (3, BY),
        "timeout_nano": (4, I64),
        "metadata": (5, "rep KeyValue"),
    }
    assert shape(msgs["Response"]) == {"status": (1, "Status"), "payload": (2, BY)}
    assert shape(msgs["Status"]) == {"code": (1, I32), "message": (2, S), "details": (3, "rep Any")}
    assert shape(msgs["KeyValue"]) == {"key": (1, S), "value": (2, S)}


def test_descriptor_files_do_not_clash() -> None:
    assert api.DESCRIPTOR.name == "drafast/nri/proto/api.proto"
    assert ttrpc_pb2.DESCRIPTOR.name == "drafast/nri/proto/ttrpc.proto"
    assert api.DESCRIPTOR.package == "nri.pkg.api.v1alpha1"
    assert ttrpc_pb2.DESCRIPTOR.package == "ttrpc"
