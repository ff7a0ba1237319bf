"""Kubernetes ``resource.Quantity``: exact parsing, arithmetic and the API server's canonical form.

Why exact: the API server stores quantities canonically (``1024Mi`` comes back as ``1Gi``,
``1.5`` as ``1500m``), so the publisher compares values, not strings, and capacity arithmetic
(counters, shares) must never drift through floats.

Grammar (``k8s.io/apimachinery/pkg/api/resource``)::

    <quantity> ::= <sign>? <number> <suffix>
    <number>   ::= <digits> | <digits>. | <digits>.<digits> | .<digits>
    <suffix>   ::= "" | n | u | m | k | M | G | T | P | E      (decimal SI)
                 | Ki | Mi | Gi | Ti | Pi | Ei                   (binary SI)
                 | e<sign>?<digits> | E<sign>?<digits>          (decimal exponent)

Semantics kept from Go: values are held to nano precision, a finer non-zero value rounds away
from zero (``0.9n`` -> ``1n``); a binary-SI value is capped at 2^63-1 in magnitude; the suffix
kind is remembered and reused when printing. Stricter than Go on purpose: Go reads an empty
number (``"k"``, ``"."``) as zero; here that is an error.

Canonical form (what ``str()`` returns, as the API server prints it): no fractional digits, the
largest suffix (or exponent, a multiple of 3) that loses nothing, sign only when negative, zero
as ``0``. Binary values below 1024 in magnitude or not whole print as decimal SI.
"""

from __future__ import annotations

import enum
import functools
import re
from fractions import Fraction
from typing import Final

from drafast.errors import ConfigError, DrafastError


class QuantityFormat(enum.StrEnum):
    DECIMAL_SI = "DecimalSI"
    BINARY_SI = "BinarySI"
    DECIMAL_EXPONENT = "DecimalExponent"


_NANO: Final = 10**9
_MAX_BINARY: Final = 2**63 - 1
# Bounds the work a hostile "1e999999999" can cause; no real quantity comes near.
_MAX_EXPONENT: Final = 1000
_DECIMAL_SUFFIXES: Final = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12,
                            "P": 15, "E": 18}  # fmt: skip
_DECIMAL_BY_EXPONENT: Final = {e: s for s, e in _DECIMAL_SUFFIXES.items()}
_BINARY_SUFFIXES: Final = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_BINARY_BY_POWER: Final = {p // 10: s for s, p in _BINARY_SUFFIXES.items()}
_SYNTAX = re.compile(r"([+-]?)(\d+\.?\d*|\.\d+)(.*)", re.ASCII)
_EXPONENT = re.compile(r"[eE]([+-]?\d+)", re.ASCII)
_RULE: Final = "not a quantity (<number>[suffix], suffix one of n u m k M G T P E Ki..Ei e<int>)"


@functools.total_ordering
class Quantity:
    """An exact quantity: ``nanos`` (the value in units of 1e-9) and the suffix kind.

    Equality, ordering and hashing are by value: ``Quantity.parse("1Gi") ==
    Quantity.parse("1024Mi") == Quantity.parse("1073741824")``. ``+``/``-`` keep the left
    operand's format (the right one's when the left is zero), as Go's ``Add`` does.
    """

    __slots__ = ("format", "nanos")

    def __init__(self, nanos: int, fmt: QuantityFormat = QuantityFormat.DECIMAL_SI) -> None:
        self.nanos = nanos
        self.format = fmt

    # ------------------------------------------------------------------ construction

    @classmethod
    def parse(cls, text: str, *, error: type[DrafastError] = ConfigError) -> Quantity:
        """Parse ``text``; a malformed one raises ``error`` naming it."""
        m = _SYNTAX.fullmatch(text)
        if m is None:
            raise error(f"quantity {text!r} is {_RULE}")
        sign, number, suffix = m.groups()
        value = Fraction(number if not number.endswith(".") else number[:-1])
        fmt = QuantityFormat.DECIMAL_SI
        if suffix in _DECIMAL_SUFFIXES:
            value *= Fraction(10) ** _DECIMAL_SUFFIXES[suffix]
        elif suffix in _BINARY_SUFFIXES:
            value *= 2 ** _BINARY_SUFFIXES[suffix]
            fmt = QuantityFormat.BINARY_SI
        elif (e := _EXPONENT.fullmatch(suffix)) is not None:
            exponent = int(e.group(1))
            if abs(exponent) > _MAX_EXPONENT:
                raise error(f"quantity {text!r}: exponent beyond +-{_MAX_EXPONENT}")
            value *= Fraction(10) ** exponent
            fmt = QuantityFormat.DECIMAL_EXPONENT
        else:
            raise error(f"quantity {text!r} is {_RULE}")
        nanos = -(-value.numerator * _NANO // value.denominator)  # ceil: round away from 0
        if fmt is QuantityFormat.BINARY_SI:
            nanos = min(nanos, _MAX_BINARY * _NANO)
            if 0 < nanos < _NANO:  # a fraction of one: no binary way to print it
                fmt = QuantityFormat.DECIMAL_SI
        return cls(-nanos if sign == "-" else nanos, fmt)

    @classmethod
    def of(cls, value: int | Fraction, fmt: QuantityFormat = QuantityFormat.DECIMAL_SI) -> Quantity:
        """An exact value (rounded away from zero to nano precision, as parsing does)."""
        v = Fraction(value)
        nanos = -(-abs(v.numerator) * _NANO // v.denominator)
        return cls(-nanos if v < 0 else nanos, fmt)

    # ------------------------------------------------------------------ values

    @property
    def value(self) -> Fraction:
        return Fraction(self.nanos, _NANO)

    def whole(self) -> int | None:
        """The value as an int when it is whole, else None."""
        q, r = divmod(self.nanos, _NANO)
        return None if r else q

    def __str__(self) -> str:
        if self.nanos == 0:
            return "0"
        fmt = self.format
        if fmt is QuantityFormat.BINARY_SI:
            whole = self.whole()
            if whole is None or abs(whole) < 1024:
                fmt = QuantityFormat.DECIMAL_SI
            else:
                power = 0
                while whole % 1024 == 0 and power < max(_BINARY_BY_POWER):
                    whole //= 1024
                    power += 1
                return f"{whole}{_BINARY_BY_POWER.get(power, '')}"
        mantissa, exponent = self.nanos, -9
        while mantissa % 10 == 0:
            mantissa //= 10
            exponent += 1
        shift = exponent % 3  # down to a multiple of 3: no fractional digits, largest suffix
        mantissa, exponent = mantissa * 10**shift, exponent - shift
        if fmt is QuantityFormat.DECIMAL_SI and exponent in _DECIMAL_BY_EXPONENT:
            return f"{mantissa}{_DECIMAL_BY_EXPONENT[exponent]}"
        return f"{mantissa}e{exponent}" if exponent else str(mantissa)

    def __repr__(self) -> str:
        return f"Quantity({str(self)!r})"

    # ------------------------------------------------------------------ arithmetic, order

    def __add__(self, other: Quantity) -> Quantity:
        if not isinstance(other, Quantity):
            return NotImplemented
        fmt = self.format if self.nanos else other.format
        return Quantity(self.nanos + other.nanos, fmt)

    def __sub__(self, other: Quantity) -> Quantity:
        if not isinstance(other, Quantity):
            return NotImplemented
        fmt = self.format if self.nanos else other.format
        return Quantity(self.nanos - other.nanos, fmt)

    def __neg__(self) -> Quantity:
        return Quantity(-self.nanos, self.format)

    def __bool__(self) -> bool:
        return self.nanos != 0

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Quantity) and self.nanos == other.nanos

    def __lt__(self, other: Quantity) -> bool:
        if not isinstance(other, Quantity):
            return NotImplemented
        return self.nanos < other.nanos

    def __hash__(self) -> int:
        return hash(self.nanos)


def canonical_quantity(text: str, *, error: type[DrafastError] = ConfigError) -> str:
    """``text`` as the API server stores it (``1024Mi`` -> ``1Gi``); malformed raises ``error``."""
    return str(Quantity.parse(text, error=error))


def parse_quantity(text: str) -> Fraction | None:
    """The exact value of ``text``, or None when it is not a quantity (for comparisons that must
    not fail on what another writer stored)."""
    try:
        return Quantity.parse(text).value
    except DrafastError:
        return None
