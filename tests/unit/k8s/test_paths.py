"""ObjectRef: REST paths to object names for messages, and back."""

from __future__ import annotations

import pytest

from drafast.k8s import ObjectRef, claim_path, node_path, slice_path
from drafast.k8s.errors import (
    AlreadyExistsError,
    ApiRequestError,
    ApiUnavailableError,
    ConflictError,
    GoneError,
    NotFoundError,
    api_error,
)


@pytest.mark.parametrize(
    ("path", "described"),
    [
        (
            "/apis/resource.k8s.io/v1/namespaces/ns/resourceclaims/c/status",
            "resourceclaims/status ns/c",
        ),
        ("/apis/resource.k8s.io/v1/namespaces/ns/resourceclaims/c", "resourceclaims ns/c"),
        ("/apis/resource.k8s.io/v1/namespaces/ns/resourceclaims", "resourceclaims in namespace ns"),
        ("/apis/resource.k8s.io/v1/resourceslices/s?x=1", "resourceslices s"),
        ("/apis/resource.k8s.io/v1/resourceslices", "resourceslices"),
        ("/api/v1/nodes/n1", "nodes n1"),
        ("/api/v1/namespaces/ns1", "namespaces ns1"),
        ("/api/v1/namespaces", "namespaces"),
        ("/api/v1", "/api/v1"),
        ("/version", "/version"),
    ],
)
def test_describe(path: str, described: str) -> None:
    assert str(ObjectRef.from_path(path)) == described


@pytest.mark.parametrize(
    "path",
    [
        claim_path("ns", "c"),
        claim_path("ns", "c") + "/status",
        slice_path("s"),
        slice_path(),
        node_path("n"),
        "/api/v1/namespaces/ns/pods/p",
    ],
)
def test_round_trip(path: str) -> None:
    assert ObjectRef.from_path(path).path == path


def test_named() -> None:
    ref = ObjectRef.from_path(slice_path()).named("x")
    assert ref.path == slice_path("x")


@pytest.mark.parametrize(
    ("status", "reason", "cls"),
    [
        (None, "ClientConnectorError", ApiUnavailableError),
        (429, "TooManyRequests", ApiUnavailableError),
        (500, "InternalError", ApiUnavailableError),
        (409, "Conflict", ConflictError),
        (409, "AlreadyExists", AlreadyExistsError),
        (410, "Expired", GoneError),
        (404, "NotFound", NotFoundError),
        (422, "Invalid", ApiRequestError),
        (403, "Forbidden", ApiRequestError),
    ],
)
def test_error_classes(status: int | None, reason: str, cls: type) -> None:
    err = api_error(
        verb="get",
        target=ObjectRef.from_path(node_path("n")),
        status=status,
        reason=reason,
        api_message="m",
    )
    assert type(err) is cls


def test_names_are_checked_before_they_go_into_a_url() -> None:
    import pytest

    from drafast.errors import ClaimError, ConfigError
    from drafast.k8s.paths import claim_path, node_path, slice_path

    with pytest.raises(ClaimError, match=r"claim namespace '\.\./\.\./x' is not a DNS label"):
        claim_path("../../x", "c")
    with pytest.raises(ClaimError, match="claim name 'a/b' is not a DNS subdomain"):
        claim_path("ns", "a/b")
    with pytest.raises(ConfigError, match=r"node name '\.\.' is not a DNS subdomain"):
        node_path("..")
    with pytest.raises(ConfigError, match="ResourceSlice name 'x/y'"):
        slice_path("x/y")
