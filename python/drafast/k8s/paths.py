"""REST paths of API objects, and the reverse: which object a path names (for error messages)."""

from __future__ import annotations

from dataclasses import dataclass

from drafast.resourceapi.names import API_VERSION as RESOURCE_V1
from drafast.resourceapi.names import (
    check_claim_name,
    check_claim_namespace,
    check_dns_subdomain,
)

__all__ = ["RESOURCE_V1", "ObjectRef", "claim_path", "node_path", "slice_path"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ObjectRef:
    """One object (``name`` set) or a collection (``name`` None) of a resource.

    ``group_version`` is ``v1`` for the core group, ``<group>/<version>`` otherwise.
    """

    group_version: str
    resource: str
    namespace: str | None = None
    name: str | None = None
    subresource: str | None = None

    @property
    def path(self) -> str:
        root = "/api/v1" if self.group_version == "v1" else f"/apis/{self.group_version}"
        ns = f"/namespaces/{self.namespace}" if self.namespace else ""
        name = f"/{self.name}" if self.name else ""
        sub = f"/{self.subresource}" if self.subresource and self.name else ""
        return f"{root}{ns}/{self.resource}{name}{sub}"

    @classmethod
    def from_path(cls, path: str) -> ObjectRef:
        """Parse ``/api/v1/...`` or ``/apis/<group>/<version>/...`` (query string ignored).

        Anything else (``/version``, a group's discovery document) becomes a "resource" named by
        the whole path, so error messages still say what was asked for.
        """
        parts = [p for p in path.split("?", 1)[0].split("/") if p]
        if len(parts) >= 3 and parts[0] == "api":
            gv, rest = parts[1], parts[2:]
        elif len(parts) >= 4 and parts[0] == "apis":
            gv, rest = f"{parts[1]}/{parts[2]}", parts[3:]
        else:
            return cls(group_version="", resource=path)
        namespace = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            namespace, rest = rest[1], rest[2:]
        return cls(
            group_version=gv,
            resource=rest[0],
            namespace=namespace,
            name=rest[1] if len(rest) > 1 else None,
            subresource="/".join(rest[2:]) or None,
        )

    def named(self, name: str) -> ObjectRef:
        return ObjectRef(
            group_version=self.group_version,
            resource=self.resource,
            namespace=self.namespace,
            name=name,
            subresource=self.subresource,
        )

    def __str__(self) -> str:
        what = f"{self.resource}/{self.subresource}" if self.subresource else self.resource
        if self.name:
            return (
                f"{what} {self.namespace}/{self.name}" if self.namespace else f"{what} {self.name}"
            )
        return f"{what} in namespace {self.namespace}" if self.namespace else what


def claim_path(namespace: str, name: str) -> str:
    check_claim_namespace(namespace)
    check_claim_name(name)
    return f"/apis/{RESOURCE_V1}/namespaces/{namespace}/resourceclaims/{name}"


def slice_path(name: str | None = None) -> str:
    """A ResourceSlice (cluster-scoped), or the collection when ``name`` is None."""
    if name is not None:
        check_dns_subdomain(name, f"ResourceSlice name {name!r}")
    return f"/apis/{RESOURCE_V1}/resourceslices" + (f"/{name}" if name else "")


def node_path(name: str) -> str:
    check_dns_subdomain(name, f"node name {name!r}")
    return f"/api/v1/nodes/{name}"
