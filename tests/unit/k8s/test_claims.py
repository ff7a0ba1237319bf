"""KubeClaimSource: claims read from the API server, failures naming the claim."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from drafast.errors import ClaimNotFoundError, PermanentError, RecoverableError
from drafast.k8s import (
    ApiRequestError,
    ApiUnavailableError,
    KubeAPI,
    KubeClaimSource,
    KubeSettings,
    NotFoundError,
    allocated_claim,
    claim_path,
)
from drafast.testing.fakeapi import FakeAPIServer
from drafast.types import ClaimRef, ClaimUID

CLAIMS = "/apis/resource.k8s.io/v1/namespaces/ns1/resourceclaims"


@pytest.fixture
async def api(server: FakeAPIServer, tmp_path: Path) -> AsyncIterator[KubeAPI]:
    settings = KubeSettings(
        kubeconfig=server.kubeconfig(tmp_path / "kubeconfig"),
        backoff_initial_seconds=0.01,
        backoff_max_seconds=0.01,
        max_attempts=2,
    )
    async with KubeAPI(settings) as client:
        yield client


async def test_get_claim(api: KubeAPI, server: FakeAPIServer) -> None:
    claim = allocated_claim(
        namespace="ns1", name="c1", driver="d.example.com", devices=[("r", "p", "dev0")]
    )
    stored = server.add(CLAIMS, claim)
    ref = ClaimRef(namespace="ns1", name="c1", uid=ClaimUID(stored["metadata"]["uid"]))
    got = await KubeClaimSource(api).get_claim(ref)
    assert got == stored
    assert got["status"]["allocation"]["devices"]["results"][0]["device"] == "dev0"
    assert server.requests[-1].path == claim_path("ns1", "c1")


async def test_missing_claim_is_claim_not_found(api: KubeAPI) -> None:
    ref = ClaimRef(namespace="ns1", name="gone", uid=ClaimUID("u-1"))
    with pytest.raises(ClaimNotFoundError) as err:
        await KubeClaimSource(api).get_claim(ref)
    assert str(err.value) == "claim ns1/gone (u-1): not found in the API server"
    assert isinstance(err.value.__cause__, NotFoundError)


@pytest.mark.parametrize(("status", "cause"), [(503, ApiUnavailableError), (403, ApiRequestError)])
async def test_other_failures_are_recoverable_and_name_the_claim(
    api: KubeAPI, server: FakeAPIServer, status: int, cause: type
) -> None:
    server.fail("GET", claim_path("ns1", "c1"), status, reason="Nope", message="denied", times=5)
    ref = ClaimRef(namespace="ns1", name="c1", uid=ClaimUID("u-1"))
    with pytest.raises(RecoverableError) as err:
        await KubeClaimSource(api).get_claim(ref)
    assert not isinstance(err.value, PermanentError)
    assert str(err.value).startswith("claim ns1/c1 (u-1): cannot read it from the API server: ")
    assert f"HTTP {status} Nope: denied" in str(err.value)
    assert isinstance(err.value.__cause__, cause)
