"""Names and limits: one rule each, errors naming the value and the rule."""

from __future__ import annotations

import pytest

from drafast.errors import ClaimError, ConfigError
from drafast.resourceapi import names


@pytest.mark.parametrize(
    ("value", "ok"),
    [("a", True), ("gpu-0", True), ("0", True), ("a" * 63, True), ("a" * 64, False),
     ("-a", False), ("a-", False), ("A", False), ("a.b", False), ("", False), ("a_b", False)],
)  # fmt: skip
def test_dns_label(value: str, ok: bool) -> None:
    assert names.is_dns_label(value) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [("gpu.example.com", True), ("a", True), ("a." * 126 + "b", True), ("a." * 127, False),
     ("a" * 64 + ".com", False), ("a..b", False), (".a", False), ("a.-b", False),
     ("Gpu.example.com", False), ("", False)],
)  # fmt: skip
def test_dns_subdomain(value: str, ok: bool) -> None:
    assert names.is_dns_subdomain(value) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [("model", True), ("_x9", True), ("a" * 32, True), ("a" * 33, False), ("9a", False),
     ("pci-bus", False), ("resource.kubernetes.io/pciBusID", True), ("example.com/x", True),
     ("/x", False), ("Example.com/x", False), ("a" * 64 + "/x", False), ("a/b/c", False)],
)  # fmt: skip
def test_qualified_names(value: str, ok: bool) -> None:
    assert names.is_qualified_name(value) is ok


def test_errors_name_the_value_and_the_rule() -> None:
    with pytest.raises(ConfigError, match=r"^'Bad' is not a DNS label \(at most 63"):
        names.check_dns_label("Bad")
    with pytest.raises(ConfigError, match=r"^device x attribute 'a b' is not a qualified name"):
        names.check_qualified_name("a b", "device x attribute 'a b'")
    with pytest.raises(ConfigError, match=r"^driver 'Not A Driver' is not a DNS subdomain"):
        names.check_driver_name("Not A Driver")
    with pytest.raises(ConfigError, match=r"^pool Bad_Pool: name is not a pool name"):
        names.check_pool_name("Bad_Pool")
    names.check_pool_name("fabric/rack-1.example")
    with pytest.raises(ClaimError, match="'9x'"):
        names.check_c_identifier("9x", error=ClaimError)


def test_label_names_and_values() -> None:
    names.check_label_name("example.com/Some_Key.1")
    names.check_label_value("")
    names.check_label_value("v-1.A_b")
    for bad in ("", "-k", "k" * 64, "Bad.Prefix/k", "/k"):
        with pytest.raises(ConfigError, match="label name"):
            names.check_label_name(bad)
    with pytest.raises(ConfigError, match="label value"):
        names.check_label_value("v/1")


@pytest.mark.parametrize(
    ("check", "good", "bad"),
    [
        (names.check_claim_namespace, "default", ["", "Default", "a.b", "a" * 64, "../x"]),
        (names.check_claim_name, "gpu-claim.v1", ["", "Gpu", "a/b", "a\0b", "x" * 254]),
        (
            names.check_claim_uid,
            "0f9a2c4e-6b1d-4e8f-9a7c-2d5e8f1b3c6a",
            ["", "..", "../etc", "a/b", "a\0b", "-x", "a b", "a" * 129, "a.b"],
        ),
    ],
)
def test_claim_identity_at_the_kubelet_edge(check, good: str, bad: list[str]) -> None:  # type: ignore[no-untyped-def]
    check(good)
    for value in bad:
        with pytest.raises(ClaimError) as err:
            check(value)
        assert names.shown(value) in str(err.value)


def test_errors_echo_at_most_a_bounded_part_of_the_value() -> None:
    huge = "x" * (1 << 20)  # a 1 MiB claim name from a hostile caller
    with pytest.raises(ClaimError) as err:
        names.check_claim_name(huge)
    assert len(str(err.value)) < 300 and "(1048576 characters)" in str(err.value)
    assert names.shown("short") == "'short'"


def test_limits_match_the_api() -> None:
    assert names.API_VERSION == "resource.k8s.io/v1"
    assert (names.MAX_DEVICES_PER_SLICE, names.MAX_DEVICES_PER_SLICE_ADVANCED) == (128, 64)
    assert names.MAX_ATTRIBUTES_AND_CAPACITIES == 32 and names.MAX_RESULTS == 32
    assert names.MAX_TAINTS_PER_DEVICE == 16 and names.MAX_COUNTER_SETS_PER_SLICE == 8


def test_slice_names_round_trip() -> None:
    assert names.slice_generate_name(0, "gpu.example.com", "node-1") == (
        "00000-gpu.example.com-node-1-"
    )
    assert names.name_fragment("Fabric/Rack_1") == "fabric-rack-1"
    assert names.name_fragment("a.-b..c-") == "a.b.c"
    base = names.slice_generate_name(0x1F, "d", "n" * 100)
    assert len(base) <= names.MAX_GENERATE_NAME
    assert names.slice_index(base + "abcde") == 0x1F
    assert names.slice_index("node-1-d-abcde") is None
