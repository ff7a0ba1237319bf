"""resolve_claim: ResourceClaim JSON -> typed Claim, strictly, with field-path errors."""

from typing import Any

import pytest

from drafast.errors import ClaimError
from drafast.k8s import allocated_claim
from drafast.resourceapi.claim import allocated_to, claim_ref, resolve_claim
from drafast.types import ClaimRef, ClaimUID, ConfigSource

DRIVER = "file.drafast.dev"


def ref_of(obj: dict) -> ClaimRef:
    m = obj["metadata"]
    return ClaimRef(namespace=m["namespace"], name=m["name"], uid=ClaimUID(m["uid"]))


def claim(**kw):  # type: ignore[no-untyped-def]
    base = {"namespace": "ns", "name": "c", "driver": DRIVER, "devices": [("req", "node", "dev")]}
    return allocated_claim(**(base | kw))


def test_keeps_only_this_drivers_results_and_configs() -> None:
    obj = claim(devices=[("a", "node", "d1"), ("b/sub", "node", "d2")], pods=["p1"])
    obj["status"]["allocation"]["devices"]["results"].append(
        {"request": "x", "driver": "other.example.com", "pool": "p", "device": "g"}
    )
    obj["status"]["allocation"]["devices"]["config"] = [
        {
            "source": "FromClaim",
            "requests": [],
            "opaque": {"driver": DRIVER, "parameters": {"k": 2}},
        },
        {
            "source": "FromClass",
            "requests": ["a"],
            "opaque": {"driver": DRIVER, "parameters": {"k": 1}},
        },
        {"source": "FromClass", "opaque": {"driver": "other.example.com", "parameters": {}}},
    ]
    c = resolve_claim(obj, ref_of(obj), DRIVER)
    assert [(d.request, d.device) for d in c.devices] == [("a", "d1"), ("b/sub", "d2")]
    assert c.devices[1].base_request == "b"
    assert [cfg.source for cfg in c.configs] == [ConfigSource.CLASS, ConfigSource.CLAIM]
    assert [cfg.parameters["k"] for cfg in c.configs_for("b/sub")] == [2]
    assert [cfg.parameters["k"] for cfg in c.configs_for("a")] == [1, 2]
    assert [r.name for r in c.reserved_for] == ["p1"]


def test_uid_mismatch_names_the_claim() -> None:
    obj = claim()
    ref = ClaimRef(namespace="ns", name="c", uid=ClaimUID("other-uid"))
    with pytest.raises(ClaimError, match=r"claim ns/c \(other-uid\): UID mismatch"):
        resolve_claim(obj, ref, DRIVER)


def test_not_allocated() -> None:
    obj = claim()
    del obj["status"]["allocation"]
    with pytest.raises(ClaimError, match="not allocated"):
        resolve_claim(obj, ref_of(obj), DRIVER)


def test_allocated_to_other_driver_only() -> None:
    obj = claim(driver="gpu.example.com")
    with pytest.raises(ClaimError, match=r"only to other drivers \(gpu.example.com\)"):
        resolve_claim(obj, ref_of(obj), DRIVER)


def result0(o: dict[str, Any]) -> dict[str, Any]:
    r: dict[str, Any] = o["status"]["allocation"]["devices"]["results"][0]
    return r


def alloc_devices(o: dict[str, Any]) -> dict[str, Any]:
    d: dict[str, Any] = o["status"]["allocation"]["devices"]
    return d


def opaque_config(**kw: Any) -> dict[str, Any]:
    return {"source": "FromClaim", "opaque": {"driver": DRIVER, "parameters": {}}} | kw


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda o: o.__setitem__("metadata", "x"), "metadata is not an object"),
        (lambda o: o.__setitem__("status", []), r"status is not an object"),
        (lambda o: o["status"].__setitem__("allocation", 0), r"status\.allocation is not an"),
        (lambda o: o["status"].__setitem__("reservedFor", {}), "reservedFor is not a list"),
        (
            lambda o: o["status"]["allocation"].__setitem__("devices", []),
            r"status\.allocation\.devices is not an object",
        ),
        (
            lambda o: o["status"]["allocation"].__setitem__("devices", 0),
            r"status\.allocation\.devices is not an object",
        ),
        (
            lambda o: alloc_devices(o).__setitem__("results", {}),
            r"status\.allocation\.devices\.results is not a list",
        ),
        (
            lambda o: alloc_devices(o).__setitem__("results", ["x"]),
            r"results\[0\] is not an object",
        ),
        (lambda o: result0(o).pop("device"), r"results\[0\]\.device must be a non-empty string"),
        (lambda o: result0(o).__setitem__("pool", 7), r"results\[0\]\.pool must be a non-empty"),
        (lambda o: result0(o).__setitem__("driver", None), r"results\[0\]\.driver must be"),
        (
            lambda o: result0(o).__setitem__("adminAccess", "false"),
            r"results\[0\]\.adminAccess must be a boolean, not str",
        ),
        (
            lambda o: result0(o).__setitem__("adminAccess", 1),
            r"results\[0\]\.adminAccess must be a boolean, not int",
        ),
        (lambda o: result0(o).__setitem__("shareID", 5), r"results\[0\]\.shareID must be a"),
        (lambda o: result0(o).__setitem__("shareID", ""), r"results\[0\]\.shareID must be a"),
        (
            lambda o: result0(o).__setitem__("consumedCapacity", ["1Gi"]),
            r"results\[0\]\.consumedCapacity is not an object",
        ),
        (
            lambda o: result0(o).__setitem__("consumedCapacity", {"memory": 1024}),
            r"results\[0\]\.consumedCapacity\[memory\] must be a non-empty string",
        ),
        (
            lambda o: result0(o).__setitem__("bindingConditions", "Ready"),
            r"results\[0\]\.bindingConditions is not a list",
        ),
        (
            lambda o: result0(o).__setitem__("bindingConditions", ["Ready", 3]),
            r"results\[0\]\.bindingConditions\[1\] must be a non-empty string",
        ),
        (
            lambda o: result0(o).__setitem__("bindingFailureConditions", [None]),
            r"results\[0\]\.bindingFailureConditions\[0\] must be",
        ),
        (
            lambda o: alloc_devices(o).__setitem__("config", {}),
            r"status\.allocation\.devices\.config is not a list",
        ),
        (
            lambda o: alloc_devices(o).__setitem__("config", [opaque_config(source="Nope")]),
            "source 'Nope' is unknown",
        ),
        (
            lambda o: alloc_devices(o).__setitem__("config", [opaque_config(source=[])]),
            r"source \[\] is unknown",
        ),
        (
            lambda o: alloc_devices(o).__setitem__("config", [opaque_config(opaque="x")]),
            r"config\[0\]\.opaque is not an object",
        ),
        (
            lambda o: alloc_devices(o).__setitem__("config", [opaque_config(requests="a")]),
            r"config\[0\]\.requests is not a list",
        ),
        (
            lambda o: alloc_devices(o).__setitem__("config", [opaque_config(requests=["a", 1])]),
            r"config\[0\]\.requests\[1\] must be a non-empty string",
        ),
        (
            lambda o: alloc_devices(o).__setitem__(
                "config", [{"source": "FromClaim", "opaque": {"driver": DRIVER}}]
            ),
            r"config\[0\]\.opaque\.parameters is not an object",
        ),
        (
            lambda o: o["status"]["reservedFor"].append(
                {"resource": "pods", "name": "p", "uid": 1}
            ),
            r"reservedFor\[0\]\.uid must be a string, not int",
        ),
        (
            lambda o: o["status"]["reservedFor"].append({"resource": "pods", "apiGroup": False}),
            r"reservedFor\[0\]\.apiGroup must be a string, not bool",
        ),
    ],
)
def test_malformed_objects_get_precise_errors(mutate, message) -> None:  # type: ignore[no-untyped-def]
    obj = claim()
    ref = ref_of(obj)
    mutate(obj)
    with pytest.raises(ClaimError, match=r"claim ns/c \(.*\): .*" + message):
        resolve_claim(obj, ref, DRIVER)


def test_optional_fields_are_typed() -> None:
    obj = claim(pods=["p"])
    result0(obj).update(
        adminAccess=True,
        shareID="s-1",
        consumedCapacity={"memory": "1Gi"},
        bindingConditions=["FabricDeviceReady"],
        bindingFailureConditions=["FabricDeviceFailed", "FabricDeviceReschedule"],
    )
    obj["status"]["reservedFor"][0]["apiGroup"] = ""
    (dev,) = resolve_claim(obj, ref_of(obj), DRIVER).devices
    assert dev.admin_access is True
    assert dev.share_id == "s-1"
    assert dev.consumed_capacity == {"memory": "1Gi"}
    assert dev.binding_conditions == ("FabricDeviceReady",)
    assert dev.binding_failure_conditions == ("FabricDeviceFailed", "FabricDeviceReschedule")


def test_absent_optionals_and_other_drivers_parts_are_not_ours_to_judge() -> None:
    obj = claim()
    del obj["status"]["reservedFor"]
    alloc_devices(obj)["results"].append({"driver": "other.example.com", "adminAccess": "x"})
    alloc_devices(obj)["config"] = [
        {"source": "Whatever", "opaque": {"driver": "other.example.com", "parameters": 1}},
        {"source": "FromClass", "somethingElse": {}},
    ]
    c = resolve_claim(obj, ref_of(obj), DRIVER)
    assert c.devices[0].admin_access is False
    assert c.devices[0].share_id is None
    assert (c.configs, c.reserved_for) == ((), ())


def test_claim_ref_from_metadata() -> None:
    obj = claim()
    assert claim_ref(obj) == ref_of(obj)
    del obj["metadata"]["uid"]
    with pytest.raises(ClaimError, match=r"claim ns/c: malformed object: metadata\.uid"):
        claim_ref(obj)
    with pytest.raises(ClaimError, match=r"ResourceClaim None/None: malformed"):
        claim_ref({})


def test_allocated_to_is_false_only_when_surely_not() -> None:
    assert allocated_to(claim(), DRIVER)
    assert not allocated_to(claim(driver="gpu.example.com"), DRIVER)
    unallocated = claim()
    del unallocated["status"]["allocation"]
    assert not allocated_to(unallocated, DRIVER)
    assert not allocated_to({"metadata": {}}, DRIVER)
    broken = claim()
    broken["status"]["allocation"]["devices"] = []
    assert allocated_to(broken, DRIVER)  # resolve_claim reports it
