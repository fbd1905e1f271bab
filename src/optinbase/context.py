"""Who is acting, for which tenant. Resolved only from an API key, a staff session
or a public token — never from a request body or query string."""

from __future__ import annotations

import uuid

import msgspec

ALL_SCOPES = frozenset(
    {
        "contacts:read",
        "contacts:write",
        "consents:read",
        "consents:write",
        "segments:read",
        "segments:write",
        "exports",
        "imports",
        "requests:read",
        "requests:write",
        "admin",
    }
)


class TenantContext(msgspec.Struct, frozen=True):
    tenant_id: uuid.UUID
    tenant_slug: str
    actor: str  # "api_key:<key id>", "staff:<user id>", "subject", "system"
    scopes: frozenset[str] = ALL_SCOPES
    country: str = ""  # default region for phone numbers written without +code

    def allows(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes
