import pytest

from drafast.errors import ClaimError
from drafast.k8s import allocated_claim
from drafast.plugin.claims import resolve_claim
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


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda o: o.__setitem__("metadata", "x"), "metadata is not an object"),
        (lambda o: o["status"].__setitem__("reservedFor", {}), "reservedFor is not a list"),
        (
            lambda o: o["status"]["allocation"]["devices"]["results"][0].pop("device"),
            r"results\[0\]\.device must be a non-empty string",
        ),
        (
            lambda o: o["status"]["allocation"]["devices"].__setitem__(
                "config", [{"source": "Nope", "opaque": {"driver": DRIVER, "parameters": {}}}]
            ),
            "source 'Nope' is unknown",
        ),
    ],
)
def test_malformed_objects_get_precise_errors(mutate, message) -> None:  # type: ignore[no-untyped-def]
    obj = claim()
    ref = ref_of(obj)
    mutate(obj)
    with pytest.raises(ClaimError, match=message):
        resolve_claim(obj, ref, DRIVER)
