"""Admin forms: API keys (create shows the key once; revoke), through tenants.keys.

Forms run under the admin gate, so the staff scope and the tenant transaction are
already set; the tenant is named by slug and must be one the user may manage.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Optional

from piccolo_admin.endpoints import FormConfig
from pydantic import BaseModel, Field
from starlette.requests import Request

from admin.look import say
from admin.scope import MANAGERS, AdminScope, current_scope
from optinbase import db
from optinbase.errors import DomainError
from optinbase.i18n import N_
from tenants import keys

# Set by admin.mount (the API's key cache), so a revoked key stops at once here.
KEY_AUTHENTICATOR: Optional[Any] = None


async def managed_tenant(scope: AdminScope, slug: str, allowed: frozenset[str] = MANAGERS,
                         doing: str = N_("admin.doing.keys")) -> uuid.UUID:
    """The tenant named by `slug` (or the user's only tenant), if their role
    there is one of `allowed` (`doing`: the message id of what they try).
    Unknown and foreign slugs read the same."""
    slug = slug.strip()
    if not slug:
        manageable = [t for t in scope.tenant_ids if scope.may(t, allowed)]
        if len(manageable) == 1:
            return manageable[0]
        if len(scope.tenant_ids) == 1:  # their one tenant, where the role falls short
            raise ValueError(say("admin.form.role", doing=say(doing)))
        raise ValueError(say("admin.form.name_tenant"))
    row = await db.fetchrow("SELECT id FROM tenant WHERE slug = {}", slug)
    tenant_id = row and (row["id"] if isinstance(row["id"], uuid.UUID) else uuid.UUID(row["id"]))
    if not tenant_id or not scope.sees(tenant_id):
        raise ValueError(say("admin.form.no_tenant", slug=slug))
    if not scope.may(tenant_id, allowed):
        raise ValueError(say("admin.form.role", doing=say(doing)))
    return tenant_id


class NewKey(BaseModel):
    tenant: str = Field(default="", description="Tenant slug (blank: your only tenant)")
    name: str = Field(default="", max_length=200)
    scopes: str = Field(default="", description="Space-separated; blank gives every scope")
    expires_in_days: Optional[int] = Field(default=None, ge=1, le=3650)


async def create_key(request: Request, data: NewKey) -> str:
    scope = current_scope.get()
    tenant_id = await managed_tenant(scope, data.tenant)
    expires = (
        dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=data.expires_in_days)
        if data.expires_in_days else None
    )
    try:
        full = await keys.create_key(
            tenant_id=tenant_id, agency_id=None, name=data.name,
            scopes=data.scopes.split() or None, expires_at=expires,
        )
    except DomainError as exc:
        raise ValueError(str(exc)) from None
    return say("admin.form.key_once", key=full)


class RevokeKey(BaseModel):
    key_id: str = Field(description="The public key id (16 hex digits after obk_)")


async def revoke_key(request: Request, data: RevokeKey) -> str:
    scope = current_scope.get()
    key_id = data.key_id.strip().removeprefix("obk_").split("_")[0]
    row = await db.fetchrow(
        "SELECT tenant_id FROM api_key WHERE key_id = {} AND tenant_id IS NOT NULL", key_id
    )
    tenant_id = row and row["tenant_id"]
    # Keys of tenants the user cannot see read as unknown (and RLS hides them).
    if not tenant_id or not scope.sees(tenant_id):
        raise ValueError(say("admin.form.no_key", key=key_id))
    if not scope.may(tenant_id, MANAGERS):
        raise ValueError(say("admin.form.role", doing=say("admin.doing.keys")))
    try:
        await keys.revoke_key(key_id, KEY_AUTHENTICATOR)
    except DomainError as exc:
        raise ValueError(str(exc)) from None
    return say("admin.form.key_revoked", key=key_id)


FORMS = [
    FormConfig(name="Create API key", pydantic_model=NewKey, endpoint=create_key,
               description="The key is shown once; only its hash is stored.",
               form_group="API keys"),
    FormConfig(name="Revoke API key", pydantic_model=RevokeKey, endpoint=revoke_key,
               form_group="API keys"),
    # Data-subject request forms: admin.request_forms; deleting a contact is an
    # erasure (writers.erase_contact).
]
