"""DRAPlugin response building and reading (share_id only in v1, base request names)."""

from drafast.kubelet import convert
from drafast.kubelet.proto.dra.v1 import api_pb2 as v1
from drafast.kubelet.proto.dra.v1beta1 import api_pb2 as v1beta1
from drafast.plugin.results import DeviceResult, PrepareResult, UnprepareResult
from drafast.types import ClaimRef, ClaimUID, DeviceName, PoolName, RequestName


def device(share_id: str | None = None, *requests: str) -> DeviceResult:
    return DeviceResult(
        request_names=tuple(RequestName(r) for r in requests or ("gpu",)),
        pool=PoolName("node-a"),
        device=DeviceName("gpu-0"),
        cdi_device_ids=("k8s.gpu.example.com/claim=uid-1-gpu-0", "vendor.com/class=x"),
        share_id=share_id,
    )


RESULTS = {
    "uid-1": PrepareResult(devices=(device(None, "gpu", "nic"), device("share-7"))),
    "uid-2": PrepareResult(error="claim ns/b (uid-2): not allocated"),
    "": PrepareResult(error="claim ns/c (): empty UID"),
}


def test_v1_prepare_response() -> None:
    resp = convert.prepare_response_v1(RESULTS)
    assert set(resp.claims) == {"uid-1", "uid-2", ""}
    first, second = resp.claims["uid-1"].devices
    assert list(first.request_names) == ["gpu", "nic"]
    assert first.pool_name == "node-a"
    assert first.device_name == "gpu-0"
    assert list(first.cdi_device_ids) == [
        "k8s.gpu.example.com/claim=uid-1-gpu-0",
        "vendor.com/class=x",
    ]
    assert not first.HasField("share_id")  # None -> absent, not ""
    assert second.HasField("share_id")
    assert second.share_id == "share-7"
    assert resp.claims["uid-1"].error == ""
    assert resp.claims["uid-2"].error == "claim ns/b (uid-2): not allocated"
    assert not resp.claims["uid-2"].devices
    assert resp.claims[""].error == "claim ns/c (): empty UID"


def test_v1_empty_share_id_is_still_present() -> None:
    resp = convert.prepare_response_v1({"u": PrepareResult(devices=(device(""),))})
    assert resp.claims["u"].devices[0].HasField("share_id")


def test_v1beta1_prepare_response_drops_share_id() -> None:
    resp = convert.prepare_response_v1beta1(RESULTS)
    wire = v1beta1.NodePrepareResourcesResponse.FromString(resp.SerializeToString())
    assert set(wire.claims) == {"uid-1", "uid-2", ""}
    first, second = wire.claims["uid-1"].devices
    assert list(first.request_names) == ["gpu", "nic"]
    assert second.device_name == "gpu-0"
    # Read back as v1: field 5 must not be on the wire at all.
    as_v1 = v1.NodePrepareResourcesResponse.FromString(resp.SerializeToString())
    assert not any(d.HasField("share_id") for d in as_v1.claims["uid-1"].devices)


def test_request_names_are_base_names() -> None:
    dev = device(None, "gpu", "nic/fast", "nic/slow", "gpu/any")
    assert convert.request_names(dev) == ["gpu", "nic"]
    resp = convert.prepare_response_v1({"u": PrepareResult(devices=(dev,))})
    assert list(resp.claims["u"].devices[0].request_names) == ["gpu", "nic"]


def test_empty_request_names_mean_all_requests() -> None:
    dev = DeviceResult(
        request_names=(), pool=PoolName("p"), device=DeviceName("d"), cdi_device_ids=()
    )
    resp = convert.prepare_response_v1({"u": PrepareResult(devices=(dev,))})
    assert list(resp.claims["u"].devices[0].request_names) == []


def test_unprepare_responses() -> None:
    results = {"a": UnprepareResult(), "b": UnprepareResult(error="busy")}
    for resp in (
        convert.unprepare_response_v1(results),
        convert.unprepare_response_v1beta1(results),
    ):
        assert {k: v.error for k, v in resp.claims.items()} == {"a": "", "b": "busy"}


def test_round_trip_through_the_wire() -> None:
    wire = convert.prepare_response_v1(RESULTS).SerializeToString()
    back = convert.prepare_results(v1.NodePrepareResourcesResponse.FromString(wire))
    assert back == RESULTS
    wire = convert.prepare_response_v1beta1(RESULTS).SerializeToString()
    back = convert.prepare_results(v1beta1.NodePrepareResourcesResponse.FromString(wire))
    assert back["uid-1"].devices[1].share_id is None
    assert back["uid-1"].devices[0] == RESULTS["uid-1"].devices[0]
    unprepared = {"a": UnprepareResult(error="x")}
    assert convert.unprepare_results(convert.unprepare_response_v1(unprepared)) == unprepared


def test_claim_refs() -> None:
    claims: list[v1.Claim | v1beta1.Claim] = [
        v1.Claim(namespace="ns", uid="u1", name="a"),
        v1beta1.Claim(namespace="ns2", uid="", name="b"),
    ]
    assert convert.claim_refs(claims) == [
        ClaimRef(namespace="ns", name="a", uid=ClaimUID("u1")),
        ClaimRef(namespace="ns2", name="b", uid=ClaimUID("")),
    ]
    refs = convert.claim_refs(claims)
    assert convert.claim_refs(convert.wire_claims_v1(refs)) == refs
    assert convert.claim_refs(convert.wire_claims_v1beta1(refs)) == refs
