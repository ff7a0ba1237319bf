"""DRAPlugin wire messages <-> drafast values, both directions (servers and the test client).

v1 and v1beta1 are message-for-message identical except ``Device.share_id`` (v1 only), so the
builders come in pairs and the readers accept either version.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from drafast.kubelet.proto.dra.v1 import api_pb2 as v1
from drafast.kubelet.proto.dra.v1beta1 import api_pb2 as v1beta1
from drafast.plugin.results import DeviceResult, PrepareResult, UnprepareResult
from drafast.types import ClaimRef, ClaimUID, DeviceName, PoolName, RequestName, base_request

WireClaim = v1.Claim | v1beta1.Claim
PrepareResponse = v1.NodePrepareResourcesResponse | v1beta1.NodePrepareResourcesResponse
UnprepareResponse = v1.NodeUnprepareResourcesResponse | v1beta1.NodeUnprepareResourcesResponse


def claim_refs(claims: Iterable[WireClaim]) -> list[ClaimRef]:
    return [ClaimRef(namespace=c.namespace, name=c.name, uid=ClaimUID(c.uid)) for c in claims]


def wire_claims_v1(refs: Iterable[ClaimRef]) -> list[v1.Claim]:
    return [v1.Claim(namespace=r.namespace, uid=r.uid, name=r.name) for r in refs]


def wire_claims_v1beta1(refs: Iterable[ClaimRef]) -> list[v1beta1.Claim]:
    return [v1beta1.Claim(namespace=r.namespace, uid=r.uid, name=r.name) for r in refs]


def request_names(device: DeviceResult) -> list[str]:
    """Base names, deduplicated in order: the kubelet matches ``request_names`` exactly against
    container claim requests, which never carry a ``/subrequest`` suffix."""
    return list(dict.fromkeys(base_request(name) for name in device.request_names))


def prepare_response_v1(results: Mapping[str, PrepareResult]) -> v1.NodePrepareResourcesResponse:
    resp = v1.NodePrepareResourcesResponse()
    for uid, result in results.items():
        entry = resp.claims[uid]
        entry.error = result.error
        for d in result.devices:
            dev = entry.devices.add(
                request_names=request_names(d),
                pool_name=d.pool,
                device_name=d.device,
                cdi_device_ids=d.cdi_device_ids,
            )
            if d.share_id is not None:
                dev.share_id = d.share_id
    return resp


def prepare_response_v1beta1(
    results: Mapping[str, PrepareResult],
) -> v1beta1.NodePrepareResourcesResponse:
    """As v1 but without share IDs, which v1beta1 cannot carry."""
    resp = v1beta1.NodePrepareResourcesResponse()
    for uid, result in results.items():
        entry = resp.claims[uid]
        entry.error = result.error
        for d in result.devices:
            entry.devices.add(
                request_names=request_names(d),
                pool_name=d.pool,
                device_name=d.device,
                cdi_device_ids=d.cdi_device_ids,
            )
    return resp


def unprepare_response_v1(
    results: Mapping[str, UnprepareResult],
) -> v1.NodeUnprepareResourcesResponse:
    resp = v1.NodeUnprepareResourcesResponse()
    for uid, result in results.items():
        resp.claims[uid].error = result.error
    return resp


def unprepare_response_v1beta1(
    results: Mapping[str, UnprepareResult],
) -> v1beta1.NodeUnprepareResourcesResponse:
    resp = v1beta1.NodeUnprepareResourcesResponse()
    for uid, result in results.items():
        resp.claims[uid].error = result.error
    return resp


def _device_result(dev: v1.Device | v1beta1.Device) -> DeviceResult:
    share_id = dev.share_id if isinstance(dev, v1.Device) and dev.HasField("share_id") else None
    return DeviceResult(
        request_names=tuple(RequestName(n) for n in dev.request_names),
        pool=PoolName(dev.pool_name),
        device=DeviceName(dev.device_name),
        cdi_device_ids=tuple(dev.cdi_device_ids),
        share_id=share_id,
    )


def prepare_results(resp: PrepareResponse) -> dict[str, PrepareResult]:
    return {
        uid: PrepareResult(
            devices=tuple(_device_result(d) for d in entry.devices), error=entry.error
        )
        for uid, entry in resp.claims.items()
    }


def unprepare_results(resp: UnprepareResponse) -> dict[str, UnprepareResult]:
    return {uid: UnprepareResult(error=entry.error) for uid, entry in resp.claims.items()}
