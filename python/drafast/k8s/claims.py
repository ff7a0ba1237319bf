"""ResourceClaims from the API server: the :class:`drafast.driver.ClaimSource` of a real cluster."""

from __future__ import annotations

from typing import TYPE_CHECKING

from drafast.errors import ClaimNotFoundError, RecoverableError
from drafast.k8s.api import KubeAPI
from drafast.k8s.errors import ApiError, NotFoundError
from drafast.k8s.paths import claim_path
from drafast.types import JSON, ClaimRef

if TYPE_CHECKING:
    from drafast.driver import ClaimSource


class KubeClaimSource:
    """One GET per claim, no cache: a prepare must see the claim's current allocation.

    Raises :class:`ClaimNotFoundError` (404) or :class:`RecoverableError` (anything else -- even
    403, which a fixed RBAC rule cures), both naming the claim and chaining the API error.
    """

    def __init__(self, api: KubeAPI) -> None:
        self._api = api

    async def get_claim(self, ref: ClaimRef) -> JSON:
        try:
            return await self._api.get(claim_path(ref.namespace, ref.name))
        except NotFoundError as err:
            raise ClaimNotFoundError(f"{ref}: not found in the API server") from err
        except ApiError as err:
            raise RecoverableError(f"{ref}: cannot read it from the API server: {err}") from err


if TYPE_CHECKING:

    def _implements_claim_source(source: KubeClaimSource) -> ClaimSource:
        return source  # mypy checks that KubeClaimSource satisfies the protocol
