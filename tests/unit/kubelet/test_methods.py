"""The generated descriptors agree with the fact sheet and with our method-path constants."""

from google.protobuf.descriptor import FieldDescriptor, FileDescriptor
from google.protobuf.message import Message

from drafast.kubelet import methods
from drafast.kubelet.proto.dra.v1 import api_pb2 as dra_v1
from drafast.kubelet.proto.dra.v1beta1 import api_pb2 as dra_v1beta1
from drafast.kubelet.proto.health.v1 import api_pb2 as health_v1
from drafast.kubelet.proto.health.v1alpha1 import api_pb2 as health_v1alpha1
from drafast.kubelet.proto.pluginregistration import api_pb2 as reg


def paths(file: FileDescriptor) -> set[str]:
    return {
        f"/{service.full_name}/{method.name}"
        for service in file.services_by_name.values()
        for method in service.methods
    }


def fields(message: type[Message]) -> dict[str, tuple[int, bool]]:
    """name -> (number, repeated)"""
    return {f.name: (f.number, f.is_repeated) for f in message.DESCRIPTOR.fields}


def test_dra_method_paths() -> None:
    assert paths(dra_v1.DESCRIPTOR) == {
        "/k8s.io.kubelet.pkg.apis.dra.v1.DRAPlugin/NodePrepareResources",
        "/k8s.io.kubelet.pkg.apis.dra.v1.DRAPlugin/NodeUnprepareResources",
    }
    assert paths(dra_v1.DESCRIPTOR) == {methods.DRA_V1_PREPARE, methods.DRA_V1_UNPREPARE}
    assert paths(dra_v1beta1.DESCRIPTOR) == {
        "/k8s.io.kubelet.pkg.apis.dra.v1beta1.DRAPlugin/NodePrepareResources",
        "/k8s.io.kubelet.pkg.apis.dra.v1beta1.DRAPlugin/NodeUnprepareResources",
    }
    assert paths(dra_v1beta1.DESCRIPTOR) == {
        methods.DRA_V1BETA1_PREPARE,
        methods.DRA_V1BETA1_UNPREPARE,
    }


def test_health_and_registration_method_paths() -> None:
    assert paths(health_v1.DESCRIPTOR) == {"/v1.DRAResourceHealth/NodeWatchResources"}
    assert paths(health_v1alpha1.DESCRIPTOR) == {"/v1alpha1.DRAResourceHealth/NodeWatchResources"}
    assert paths(reg.DESCRIPTOR) == {
        "/pluginregistration.Registration/GetInfo",
        "/pluginregistration.Registration/NotifyRegistrationStatus",
    }
    assert paths(health_v1.DESCRIPTOR) == {methods.HEALTH_V1_WATCH}
    assert paths(health_v1alpha1.DESCRIPTOR) == {methods.HEALTH_V1ALPHA1_WATCH}
    assert paths(reg.DESCRIPTOR) == {methods.REGISTRATION_GET_INFO, methods.REGISTRATION_NOTIFY}


def test_streaming_shape() -> None:
    for file in (dra_v1.DESCRIPTOR, dra_v1beta1.DESCRIPTOR, reg.DESCRIPTOR):
        for service in file.services_by_name.values():
            assert not any(m.client_streaming or m.server_streaming for m in service.methods)
    for file in (health_v1.DESCRIPTOR, health_v1alpha1.DESCRIPTOR):
        (method,) = file.services_by_name["DRAResourceHealth"].methods
        assert method.server_streaming
        assert not method.client_streaming


def test_descriptor_files_do_not_clash() -> None:
    names = [m.DESCRIPTOR.name for m in (dra_v1, dra_v1beta1, health_v1, health_v1alpha1, reg)]
    assert all(n.startswith("drafast/kubelet/proto/") for n in names)
    assert len(set(names)) == 5


def test_dra_field_numbers() -> None:
    for pb in (dra_v1, dra_v1beta1):
        assert fields(pb.Claim) == {
            "namespace": (1, False),
            "uid": (2, False),
            "name": (3, False),
        }
        assert fields(pb.NodePrepareResourcesRequest) == {"claims": (1, True)}
        assert fields(pb.NodeUnprepareResourcesRequest) == {"claims": (1, True)}
        assert fields(pb.NodePrepareResourceResponse) == {"devices": (1, True), "error": (2, False)}
        assert fields(pb.NodeUnprepareResourceResponse) == {"error": (1, False)}
        for resp in (pb.NodePrepareResourcesResponse, pb.NodeUnprepareResourcesResponse):
            claims = resp.DESCRIPTOR.fields_by_name["claims"]
            assert claims.number == 1
            assert claims.message_type.GetOptions().map_entry
            assert claims.message_type.fields_by_name["key"].type == FieldDescriptor.TYPE_STRING
    common = {
        "request_names": (1, True),
        "pool_name": (2, False),
        "device_name": (3, False),
        "cdi_device_ids": (4, True),
    }
    assert fields(dra_v1beta1.Device) == common
    assert fields(dra_v1.Device) == {**common, "share_id": (5, False)}


def test_share_id_is_proto3_optional_in_v1_only() -> None:
    share_id = dra_v1.Device.DESCRIPTOR.fields_by_name["share_id"]
    assert share_id.has_presence
    assert share_id.containing_oneof is not None  # proto3 optional = synthetic oneof
    assert share_id.containing_oneof.name == "_share_id"
    assert "share_id" not in dra_v1beta1.Device.DESCRIPTOR.fields_by_name
    assert not dra_v1.Device.DESCRIPTOR.fields_by_name["pool_name"].has_presence


def test_health_messages() -> None:
    for pb in (health_v1, health_v1alpha1):
        assert dict(pb.HealthStatus.items()) == {"UNKNOWN": 0, "HEALTHY": 1, "UNHEALTHY": 2}
        assert fields(pb.NodeWatchResourcesRequest) == {}
        assert fields(pb.NodeWatchResourcesResponse) == {"devices": (1, True)}
        assert fields(pb.DeviceIdentifier) == {"pool_name": (1, False), "device_name": (2, False)}
        assert fields(pb.DeviceHealth) == {
            "device": (1, False),
            "health": (2, False),
            "last_updated_time": (3, False),
            "health_check_timeout_seconds": (4, False),
            "message": (5, False),
        }
        timeout = pb.DeviceHealth.DESCRIPTOR.fields_by_name["health_check_timeout_seconds"]
        assert timeout.type == FieldDescriptor.TYPE_INT64
    assert health_v1.DESCRIPTOR.package == "v1"
    assert health_v1alpha1.DESCRIPTOR.package == "v1alpha1"


def test_registration_messages() -> None:
    assert fields(reg.InfoRequest) == {}
    assert fields(reg.PluginInfo) == {
        "type": (1, False),
        "name": (2, False),
        "endpoint": (3, False),
        "supported_versions": (4, True),
    }
    assert fields(reg.RegistrationStatus) == {"plugin_registered": (1, False), "error": (2, False)}
    assert fields(reg.RegistrationStatusResponse) == {}


def test_supported_versions_order() -> None:
    assert methods.supported_versions(serve_v1beta1=True, serve_health=True) == [
        "v1.DRAPlugin",
        "v1beta1.DRAPlugin",
        "v1.DRAResourceHealth",
        "v1alpha1.DRAResourceHealth",
    ]
    assert methods.supported_versions(serve_v1beta1=False, serve_health=False) == ["v1.DRAPlugin"]
    assert methods.supported_versions(serve_v1beta1=True, serve_health=False) == [
        "v1.DRAPlugin",
        "v1beta1.DRAPlugin",
    ]
