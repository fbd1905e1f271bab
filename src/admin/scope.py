"""Who is using the admin and which tenants they may see: resolved once per request
from the session cookie → staff user → memberships, never from the request body."""

from __future__ import annotations

import contextvars
import uuid
from dataclasses import dataclass, field
from typing import AsyncContextManager, Optional

from optinbase import db
from optinbase.context import TenantContext
from tenants import envelope
from tenants.tables import StaffSession

ROLES = frozenset({"owner", "manager", "editor", "dpo", "viewer"})
WRITERS = frozenset({"owner", "manager", "editor", "dpo"})
MANAGERS = frozenset({"owner", "manager", "dpo"})  # delete rows, manage API keys
ERASERS = frozenset({"owner", "dpo"})
SESSION_COOKIE = "id"  # piccolo_api's session cookie name


@dataclass(frozen=True)
class AdminScope:
    user_id: Optional[int] = None
    username: str = ""
    superuser: bool = False
    # tenant id → role; agency memberships expand to every tenant of the agency.
    roles: dict[uuid.UUID, str] = field(default_factory=dict)
    agency_ids: frozenset[uuid.UUID] = frozenset()

    @property
    def tenant_ids(self) -> list[uuid.UUID]:
        return sorted(self.roles, key=str)

    def sees(self, tenant_id: object) -> bool:
        return self.superuser or as_uuid(tenant_id) in self.roles

    def role(self, tenant_id: object) -> Optional[str]:
        if self.superuser:
            return "owner"
        return self.roles.get(as_uuid(tenant_id))

    def may(self, tenant_id: object, allowed: frozenset[str]) -> bool:
        return self.role(tenant_id) in allowed


ANONYMOUS = AdminScope()
current_scope: contextvars.ContextVar[AdminScope] = contextvars.ContextVar(
    "optinbase_admin_scope", default=ANONYMOUS
)


def as_uuid(value: object) -> Optional[uuid.UUID]:
    """A UUID from whatever a row, a payload or a path holds; None when it is not one."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        return None


# Stronger roles win when memberships overlap (a tenant role and its agency role).
_RANK = {"viewer": 0, "editor": 1, "manager": 2, "dpo": 3, "owner": 4}


async def resolve(token: Optional[str]) -> AdminScope:
    """The scope of a session token; ANONYMOUS when missing, expired or inactive.
    Piccolo's own auth middleware still authenticates the request afterwards."""
    if not token or len(token) > 100:
        return ANONYMOUS

    user_id = await StaffSession.get_user_id(token)
    if user_id is None:
        return ANONYMOUS
    row = await db.fetchrow(
        "SELECT id, username, superuser FROM staff_user WHERE id = {} AND active AND admin",
        user_id,
    )
    if row is None:
        return ANONYMOUS
    user_id = int(row["id"])
    if row["superuser"]:
        tenants = await db.fetch("SELECT id FROM tenant")
        roles = {as_uuid(t["id"]): "owner" for t in tenants}
        return AdminScope(user_id, row["username"], True, roles)
    memberships = await db.fetch(
        "SELECT m.role, m.tenant_id, m.agency_id, t.id AS agency_tenant_id"
        " FROM membership m LEFT JOIN tenant t ON t.agency_id = m.agency_id"
        " WHERE m.user_id = {}",
        user_id,
    )
    roles: dict[uuid.UUID, str] = {}
    agencies: set[uuid.UUID] = set()
    for m in memberships:
        tenant_id = as_uuid(m["tenant_id"] or m["agency_tenant_id"])
        if m["agency_id"] is not None:
            agencies.add(as_uuid(m["agency_id"]))
        if tenant_id is None:
            continue
        if _RANK.get(m["role"], -1) > _RANK.get(roles.get(tenant_id, ""), -1):
            roles[tenant_id] = m["role"]
    return AdminScope(user_id, row["username"], False, roles, frozenset(agencies))


def acting(scope: AdminScope, tenant_id: uuid.UUID) -> AsyncContextManager[TenantContext]:
    """A staff member acting through the services for one of their tenants:
    `async with acting(scope, tenant_id) as ctx:` (the envelope narrows the
    admin transaction to that tenant and gives the role's scopes)."""
    if not scope.sees(tenant_id):
        raise LookupError("a tenant this staff member does not see")
    return envelope.acting(tenant_id, scope.user_id, scope.role(tenant_id) or "viewer",
                           scope.username)
