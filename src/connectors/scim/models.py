"""SCIM wire models (from `scim2-models`, RFC 7643/7644) and what discovery tells about the server.

The payloads are the library's pydantic models, serialised in the SCIM context each request needs, so attribute
names, mutability and `schemas` lists follow the RFC rather than our own spelling of it.
"""

from __future__ import annotations

from dataclasses import dataclass

from scim2_models import EnterpriseUser, Group, ResourceType, ServiceProviderConfig, User

ScimUser = User[EnterpriseUser]
"""A core User with the enterprise extension (department, employeeNumber, manager)."""

ENTERPRISE_URN = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
MANAGER_PATH = f"{ENTERPRISE_URN}:manager"
DEPARTMENT_PATH = f"{ENTERPRISE_URN}:department"
MEDIA_TYPE = "application/scim+json"

__all__ = ["ENTERPRISE_URN", "Features", "Group", "ScimUser"]


@dataclass(frozen=True)
class Features:
    """What the service provider announces (RFC 7643 section 5), reduced to what the connector acts on."""

    patch: bool = False
    bulk: bool = False
    bulk_max_operations: int = 0
    bulk_max_payload: int = 0
    filter: bool = False
    filter_max_results: int = 0
    etag: bool = False
    enterprise: bool = True  # the User resource type lists the enterprise extension
    groups: bool = True  # a Group resource type exists

    @classmethod
    def discovered(cls, config: ServiceProviderConfig, types: list[ResourceType] | None) -> Features:
        """From `/ServiceProviderConfig` and, when the server answered it, `/ResourceTypes`."""
        bulk = config.bulk
        filters = config.filter
        enterprise, groups = True, True
        if types is not None:
            by_name = {t.name or t.id: t for t in types}
            user = by_name.get("User")
            extensions = {str(e.schema_) for e in (user.schema_extensions or [])} if user else set()
            enterprise = ENTERPRISE_URN in extensions
            groups = "Group" in by_name
        return cls(
            patch=bool(config.patch and config.patch.supported),
            bulk=bool(bulk and bulk.supported),
            bulk_max_operations=int(bulk.max_operations or 0) if bulk else 0,
            bulk_max_payload=int(bulk.max_payload_size or 0) if bulk else 0,
            filter=bool(filters and filters.supported),
            filter_max_results=int(filters.max_results or 0) if filters else 0,
            etag=bool(config.etag and config.etag.supported),
            enterprise=enterprise,
            groups=groups,
        )

    def facts(self) -> dict[str, object]:
        return {
            "patch": self.patch,
            "bulk": self.bulk,
            "bulk_max_operations": self.bulk_max_operations,
            "filter": self.filter,
            "etag": self.etag,
            "enterprise_extension": self.enterprise,
            "groups": self.groups,
        }
