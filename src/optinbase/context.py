"""Who is acting, for which tenant, allowed to do what.

A `TenantContext` is resolved only from an API key, a staff session, a
subscriber's signed link, a worker job or an operator's command — never from a
request body or query string — and only through the factories below, each of
which says which scopes its kind of actor holds. There is no default: a context
built without saying who acts would grant nothing.
"""

from __future__ import annotations

import uuid
from typing import Protocol

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
READ_SCOPES = frozenset(s for s in ALL_SCOPES if s.endswith(":read"))

# What each staff role may do, in API scopes (the admin's own checks use the
# role; services that ask `ctx.allows` get the same answer for a staff member).
ROLE_SCOPES: dict[str, frozenset[str]] = {
    "viewer": READ_SCOPES,
    "editor": READ_SCOPES | {"contacts:write", "consents:write", "segments:write"},
    "manager": ALL_SCOPES - {"admin"},
    "dpo": ALL_SCOPES - {"admin"},
    "owner": ALL_SCOPES,
}

# A subscriber acting through a link acts on their own data only, through the
# journey's services; no API scope applies to them.
SUBJECT_SCOPES: frozenset[str] = frozenset()


class TenantLike(Protocol):
    """What the factories read of a tenant (tenants.repository.TenantRecord)."""

    id: uuid.UUID
    slug: str
    country: str


class TenantContext(msgspec.Struct, frozen=True, kw_only=True):
    tenant_id: uuid.UUID
    tenant_slug: str
    actor: str  # "api_key:<key id>", "staff:<e-mail or user id>", "subject", "system:<job>", "cli:<command>"
    scopes: frozenset[str]
    country: str = ""  # default region for phone numbers written without +code

    def allows(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes

    # --- the factories: the only places a context is built --------------------

    @classmethod
    def for_api_key(cls, tenant: TenantLike, key_id: str, scopes: frozenset[str]) -> "TenantContext":
        return cls._of(tenant, f"api_key:{key_id}", frozenset(scopes) & ALL_SCOPES)

    @classmethod
    def for_staff(cls, tenant: TenantLike, user_id: int | None, role: str,
                  email: str = "") -> "TenantContext":
        """The actor names the staff member by e-mail when known: the audit trail
        says who acted in words a reader recognises, and stays true if the
        staff row is later removed."""
        return cls._of(tenant, f"staff:{email or user_id}", ROLE_SCOPES.get(role, frozenset()))

    @classmethod
    def for_subject(cls, tenant: TenantLike) -> "TenantContext":
        return cls._of(tenant, "subject", SUBJECT_SCOPES)

    @classmethod
    def for_system(cls, tenant: TenantLike, job: str) -> "TenantContext":
        """Housekeeping and background jobs: they act on the tenant's whole base
        by the tenant's own settings (retention, expiry, reminders, imports)."""
        return cls._of(tenant, f"system:{job}", ALL_SCOPES - {"admin"})

    @classmethod
    def for_operator(cls, tenant: TenantLike, command: str) -> "TenantContext":
        """The operator at the command line (owner of the installation)."""
        return cls._of(tenant, f"cli:{command}", ALL_SCOPES)

    @classmethod
    def _of(cls, tenant: TenantLike, actor: str, scopes: frozenset[str]) -> "TenantContext":
        return cls(tenant_id=tenant.id, tenant_slug=tenant.slug, actor=actor, scopes=scopes,
                   country=tenant.country or "")
