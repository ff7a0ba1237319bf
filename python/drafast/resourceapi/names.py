"""Names and limits of ``resource.k8s.io/v1``: the one copy of each rule drafast checks.

Rules follow the API server's validation (``k8s.io/apimachinery`` name validators and the DRA
limits in ``resource/v1/types.go``; see ``reference/dra-protocol.md`` section 5). Every checker
raises one line that names the value and the rule; ``what`` says which field it was (defaults to
the value itself) and ``error`` picks the class, so the same rule serves settings and published
resources (:class:`ConfigError`) and claims (:class:`ClaimError`).
"""

from __future__ import annotations

import re
from typing import Final

from drafast.errors import ClaimError, ConfigError, DrafastError

API_GROUP: Final = "resource.k8s.io"
API_VERSION_V1: Final = "v1"
API_VERSION: Final = f"{API_GROUP}/{API_VERSION_V1}"
"""The DRA ``apiVersion`` drafast speaks (GA since Kubernetes 1.34)."""

# --------------------------------------------------------------------------- limits (v1)

MAX_DEVICES_PER_SLICE: Final = 128
MAX_DEVICES_PER_SLICE_ADVANCED: Final = 64
"""With taints, counter consumption or list-type attributes on any device of the slice."""
MAX_ATTRIBUTES_AND_CAPACITIES: Final = 32
"""Per device, attributes and capacities together."""
MAX_ATTRIBUTE_VALUES: Final = 48
"""Per device, scalars plus list elements (1.36+)."""
MAX_ATTRIBUTE_STRING: Final = 64
"""Characters of a string or version attribute value (each list element too)."""
MAX_DOMAIN: Final = 63
MAX_ID: Final = 32
"""Characters of a C identifier (the name part of a qualified name)."""
MAX_DRIVER_NAME: Final = 63
MAX_POOL_NAME: Final = 253
MAX_TAINTS_PER_DEVICE: Final = 16
MAX_BINDING_CONDITIONS: Final = 4
MAX_COUNTER_SETS_PER_SLICE: Final = 8
MAX_COUNTERS_PER_SET: Final = 32
MAX_COUNTER_CONSUMPTIONS_PER_DEVICE: Final = 2
MAX_COUNTERS_PER_CONSUMPTION: Final = 32
MAX_VALID_VALUES: Final = 10
"""Entries of a capacity request policy's ``validValues``."""
MAX_RESULTS: Final = 32
"""``status.allocation.devices.results`` of one claim."""
MAX_REQUESTS: Final = 32
MAX_CONFIGS: Final = 32
MAX_RESERVED_FOR: Final = 256
MAX_DEVICE_CONDITIONS: Final = 8
MAX_OPAQUE_PARAMETERS_BYTES: Final = 10 * 1024
MAX_DEVICE_DATA_BYTES: Final = 10 * 1024

# --------------------------------------------------------------------------- patterns

DNS_LABEL_MAX: Final = 63
DNS_SUBDOMAIN_MAX: Final = 253
_LABEL = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?"
_DNS_LABEL = re.compile(rf"^{_LABEL}$")
_DNS_SUBDOMAIN = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$")
_C_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Label names (taint keys): [prefix/]name, name <= 63 alphanumerics with '-', '_', '.' inside.
_LABEL_NAME = re.compile(r"^[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?$")
# The API's UIDs are UUIDs; accept any token of that alphabet, never a path or control character.
_UID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,127}$")
_NAME_INVALID = re.compile(r"[^a-z0-9.-]+")
_NAME_DOTS = re.compile(r"[-.]*\.[-.]*")

DNS_LABEL_RULE: Final = (
    "DNS label (at most 63 lower-case alphanumerics or '-', alphanumeric at both ends)"
)
DNS_SUBDOMAIN_RULE: Final = "DNS subdomain (at most 253 characters: DNS labels joined by '.')"
C_IDENTIFIER_RULE: Final = "C identifier (at most 32 of [A-Za-z0-9_], not starting with a digit)"
QUALIFIED_NAME_RULE: Final = "qualified name ([domain/]C identifier, domain a DNS subdomain <= 63)"


def shown(value: str, limit: int = 80) -> str:
    """``repr(value)``, cut to ``limit`` characters: error messages echo what they were given,
    and a hostile 1 MiB name must not become a 1 MiB error (or log line)."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}... ({len(value)} characters)"


def _fail(value: str, what: str, rule: str, error: type[DrafastError]) -> DrafastError:
    return error(f"{what or shown(value)} is not a {rule}")


def is_dns_label(value: str) -> bool:
    return len(value) <= DNS_LABEL_MAX and _DNS_LABEL.match(value) is not None


def is_dns_subdomain(value: str, max_length: int = DNS_SUBDOMAIN_MAX) -> bool:
    return (
        len(value) <= max_length
        and _DNS_SUBDOMAIN.match(value) is not None
        and all(len(part) <= DNS_LABEL_MAX for part in value.split("."))
    )


def is_c_identifier(value: str) -> bool:
    return len(value) <= MAX_ID and _C_IDENTIFIER.match(value) is not None


def is_qualified_name(value: str) -> bool:
    """``<C identifier>`` (the driver's own domain) or ``<domain>/<C identifier>``."""
    domain, slash, ident = value.rpartition("/")
    return is_c_identifier(ident) and (not slash or is_dns_subdomain(domain, MAX_DOMAIN))


def check_dns_label(value: str, what: str = "", *, error: type[DrafastError] = ConfigError) -> None:
    if not is_dns_label(value):
        raise _fail(value, what, DNS_LABEL_RULE, error)


def check_dns_subdomain(
    value: str, what: str = "", *, error: type[DrafastError] = ConfigError
) -> None:
    if not is_dns_subdomain(value):
        raise _fail(value, what, DNS_SUBDOMAIN_RULE, error)


def check_c_identifier(
    value: str, what: str = "", *, error: type[DrafastError] = ConfigError
) -> None:
    if not is_c_identifier(value):
        raise _fail(value, what, C_IDENTIFIER_RULE, error)


def check_qualified_name(
    value: str, what: str = "", *, error: type[DrafastError] = ConfigError
) -> None:
    if not is_qualified_name(value):
        raise _fail(value, what, QUALIFIED_NAME_RULE, error)


def check_driver_name(
    value: str, what: str = "", *, error: type[DrafastError] = ConfigError
) -> None:
    """A driver name: a DNS subdomain of at most 63 characters."""
    if not is_dns_subdomain(value, MAX_DRIVER_NAME):
        raise _fail(
            value, what or f"driver {shown(value)}", "DNS subdomain of at most 63 characters", error
        )


def check_pool_name(value: str, what: str = "", *, error: type[DrafastError] = ConfigError) -> None:
    """A pool name: DNS subdomains joined by ``/``, at most 253 characters."""
    if len(value) > MAX_POOL_NAME or not all(is_dns_subdomain(p) for p in value.split("/")):
        rule = "pool name (DNS subdomains separated by '/', at most 253 characters)"
        raise _fail(value, what or f"pool {value}: name", rule, error)


def check_label_name(
    value: str, what: str = "", *, error: type[DrafastError] = ConfigError
) -> None:
    """A label key (taint keys): ``[prefix/]name``, prefix a DNS subdomain, name <= 63."""
    prefix, slash, name = value.rpartition("/")
    if not (
        len(name) <= DNS_LABEL_MAX
        and _LABEL_NAME.match(name)
        and (not slash or is_dns_subdomain(prefix))
    ):
        raise _fail(
            value, what, "label name ([DNS subdomain/]name, name <= 63 of [-A-Za-z0-9_.])", error
        )


def check_label_value(
    value: str, what: str = "", *, error: type[DrafastError] = ConfigError
) -> None:
    """A label value (taint values): empty, or <= 63 of ``[-A-Za-z0-9_.]``, alphanumeric ends."""
    if value and not (len(value) <= DNS_LABEL_MAX and _LABEL_NAME.match(value)):
        raise _fail(value, what, "label value (<= 63 of [-A-Za-z0-9_.], alphanumeric ends)", error)


# --------------------------------------------------------------------------- claims (kubelet edge)


def check_claim_namespace(value: str) -> None:
    check_dns_label(value, f"claim namespace {shown(value)}", error=ClaimError)


def check_claim_name(value: str) -> None:
    check_dns_subdomain(value, f"claim name {shown(value)}", error=ClaimError)


def check_claim_uid(value: str) -> None:
    """A claim UID as the API server makes them (a UUID). It becomes part of file names (CDI
    specs, checkpoint keys), so anything that could escape a directory is refused."""
    if not _UID.match(value):
        raise ClaimError(
            f"claim uid {shown(value)} is not a UID (a UUID-like token of [A-Za-z0-9-])"
        )


# --------------------------------------------------------------------------- slice names

SLICE_INDEX_DIGITS: Final = 5
MAX_GENERATE_NAME: Final = 58
"""The API server keeps at most 58 characters of ``generateName`` and appends 5 random ones."""
_SLICE_INDEX = re.compile(r"^([0-9a-f]{5,})-")


def name_fragment(text: str) -> str:
    """``text`` as a DNS-subdomain fragment: lower case, invalid runs -> '-', runs around dots
    collapsed to one dot (so no label starts or ends with '-'), no punctuation at the ends."""
    return _NAME_DOTS.sub(".", _NAME_INVALID.sub("-", text.lower())).strip("-.")


def slice_generate_name(index: int, driver: str, owner: str) -> str:
    """``<index>-<driver>-<owner>-`` (the 1.36+ Go helper's scheme: the index matches existing
    slices to desired ones), cut so the final name stays a valid DNS subdomain."""
    base = f"{index:0{SLICE_INDEX_DIGITS}x}-{name_fragment(driver)}-{name_fragment(owner)}"
    return base[: MAX_GENERATE_NAME - 1].rstrip("-.") + "-"


def slice_index(name: str) -> int | None:
    """The index encoded by :func:`slice_generate_name` at the start of a slice name, else None
    (random 1.34 names, non-canonical or upper-case hex)."""
    m = _SLICE_INDEX.match(name)
    if not m or f"{int(m.group(1), 16):0{SLICE_INDEX_DIGITS}x}" != m.group(1):
        return None
    return int(m.group(1), 16)
