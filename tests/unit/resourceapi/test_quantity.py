"""Quantity against a table derived from the Kubernetes rules (apimachinery's quantity docs and
tests): parsing, canonical form, rounding, caps, arithmetic and round trips."""

from __future__ import annotations

from fractions import Fraction

import pytest

from drafast.errors import ClaimError, ConfigError
from drafast.resourceapi.quantity import (
    Quantity,
    QuantityFormat,
    canonical_quantity,
    parse_quantity,
)

# text -> (exact value, canonical form as the API server prints it)
CASES = [
    ("0", 0, "0"),
    ("0m", 0, "0"),
    ("0Ki", 0, "0"),
    ("-0", 0, "0"),
    ("1", 1, "1"),
    ("+1", 1, "1"),
    ("1.", 1, "1"),
    ("1.G", 10**9, "1G"),
    ("1.5", Fraction(3, 2), "1500m"),
    ("1500m", Fraction(3, 2), "1500m"),
    ("0.5", Fraction(1, 2), "500m"),
    (".001", Fraction(1, 1000), "1m"),
    ("0.0005k", Fraction(1, 2), "500m"),
    ("100.035k", 100035, "100035"),
    ("10.035M", 10035000, "10035k"),
    ("1000k", 10**6, "1M"),
    ("1500", 1500, "1500"),
    ("50k", 50000, "50k"),
    ("8.1k", 8100, "8100"),
    ("2.5P", 25 * 10**14, "2500T"),
    ("1.01E", 101 * 10**16, "1010P"),
    ("12E", 12 * 10**18, "12E"),
    ("1000E", 10**21, "1e21"),  # past E: the exponent form, never a silently dropped suffix
    ("5n", Fraction(5, 10**9), "5n"),
    ("4u", Fraction(4, 10**6), "4u"),
    ("1.2345", Fraction(12345, 10**4), "1234500u"),
    ("-1.5", Fraction(-3, 2), "-1500m"),
    ("1Ki", 1024, "1Ki"),
    ("1024Mi", 2**30, "1Gi"),
    ("1.5Gi", 3 * 2**29, "1536Mi"),
    ("1.5Ki", 1536, "1536"),
    ("0.5Mi", 2**19, "512Ki"),
    ("1023Ki", 1023 * 1024, "1023Ki"),
    ("0.5Ki", 512, "512"),  # below 1024: printed as decimal
    ("-2Gi", -(2**31), "-2Gi"),
    ("100.035Ki", Fraction(10243584, 100), "102435840m"),  # not whole: decimal
    ("9Ei", 2**63 - 1, "9223372036854775807"),  # binary values cap at 2^63-1
    ("1e3", 1000, "1e3"),
    ("1E3", 1000, "1e3"),
    ("1E-3", Fraction(1, 1000), "1e-3"),
    ("1.5e3", 1500, "1500"),
    ("1.3E+6", 1300000, "1300e3"),
    ("12e6", 12 * 10**6, "12e6"),
    ("0.5e0", Fraction(1, 2), "500e-3"),
    # finer than nano rounds away from zero
    ("0.9n", Fraction(1, 10**9), "1n"),
    ("3.001n", Fraction(4, 10**9), "4n"),
    ("0.0000000001", Fraction(1, 10**9), "1n"),
    ("0.00000012345", Fraction(124, 10**9), "124n"),
    ("-0.9n", Fraction(-1, 10**9), "-1n"),
    ("0.000000000001Ki", Fraction(2, 10**9), "2n"),  # rounds up, changes format
]


@pytest.mark.parametrize(("text", "value", "canonical"), CASES)
def test_parse_and_canonical_form(text: str, value: int | Fraction, canonical: str) -> None:
    q = Quantity.parse(text)
    assert q.value == value
    assert str(q) == canonical
    assert canonical_quantity(text) == canonical


@pytest.mark.parametrize(("text", "value", "canonical"), CASES)
def test_canonical_form_round_trips(text: str, value: int | Fraction, canonical: str) -> None:
    again = Quantity.parse(canonical)
    assert again == Quantity.parse(text)
    assert str(again) == canonical


@pytest.mark.parametrize(
    "text",
    ["", " 1", "1 ", "1.1.M", "1+1.0M", "0.1mi", "0.1am", "aoeu", ".5i", "1i", "-3.01i",
     "-3.01e-", "1e", "k", ".", "+", "1KI", "1kb", "1e1.5", "1e9999", "\u0661"],
)  # fmt: skip
def test_malformed_quantities_are_one_line_errors_naming_the_value(text: str) -> None:
    with pytest.raises(ConfigError) as err:
        Quantity.parse(text)
    message = str(err.value)
    assert repr(text) in message and "\n" not in message
    assert parse_quantity(text) is None


def test_error_class_is_the_callers() -> None:
    with pytest.raises(ClaimError, match="quantity 'x'"):
        Quantity.parse("x", error=ClaimError)


def test_formats_are_remembered() -> None:
    assert Quantity.parse("1Gi").format is QuantityFormat.BINARY_SI
    assert Quantity.parse("1e3").format is QuantityFormat.DECIMAL_EXPONENT
    assert Quantity.parse("1k").format is QuantityFormat.DECIMAL_SI
    assert Quantity.parse("0.5Ki").format is QuantityFormat.BINARY_SI  # 512: still whole
    assert Quantity.parse("0.0001Ki").format is QuantityFormat.DECIMAL_SI  # below one


def test_equality_and_order_are_by_value() -> None:
    assert Quantity.parse("1Gi") == Quantity.parse("1024Mi") == Quantity.parse("1073741824")
    assert Quantity.parse("1e3") == Quantity.parse("1k")
    assert len({Quantity.parse("1k"), Quantity.parse("1000"), Quantity.parse("1e3")}) == 1
    assert Quantity.parse("100m") > Quantity.parse("50m")
    assert Quantity.parse("10000T") > Quantity.parse("100Gi")
    assert sorted(map(Quantity.parse, ["1Ki", "1k", "1", "-1"])) == [
        Quantity.parse(t) for t in ["-1", "1", "1k", "1Ki"]
    ]
    assert Quantity.parse("1") != "1"


def test_arithmetic_is_exact_and_keeps_the_left_format() -> None:
    total = Quantity.parse("1Gi") + Quantity.parse("512Mi")
    assert str(total) == "1536Mi"
    assert str(Quantity.parse("100m") + Quantity.parse("1Gi")) == "1073741824100m"
    assert str(Quantity.parse("0") + Quantity.parse("2Gi")) == "2Gi"  # zero takes the other's
    assert str(Quantity.parse("1Gi") - Quantity.parse("1Gi")) == "0"
    assert str(Quantity.parse("0") - Quantity.parse("1Gi")) == "-1Gi"
    assert str(-Quantity.parse("1500m")) == "-1500m"
    tenth = Quantity.parse("100m")
    assert sum([tenth] * 10, Quantity(0)) == Quantity.parse("1")  # no float drift


def test_whole_and_of() -> None:
    assert Quantity.parse("2k").whole() == 2000
    assert Quantity.parse("1.5").whole() is None
    assert Quantity.of(Fraction(1, 3)).value == Fraction(333333334, 10**9)
    assert str(Quantity.of(1536, QuantityFormat.BINARY_SI)) == "1536"
    assert str(Quantity.of(-(2**20), QuantityFormat.BINARY_SI)) == "-1Mi"
    assert repr(Quantity.parse("1.5")) == "Quantity('1500m')"
