"""Admin writes that must go through the consent services rather than a raw row
update: contacts are normalised, kept unique, hashed for the suppression list and
audited exactly as through the API."""

from __future__ import annotations

import json
import uuid
from typing import Any, Optional

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from admin.scope import AdminScope
from consent import contacts, notices
from consent.erasure import erase_contact as erase
from consent.schemas import ContactIn, ContactPatch, NoticeIn
from optinbase import db
from optinbase.context import TenantContext
from optinbase.errors import DomainError

CONTACT_FIELDS = tuple(ContactPatch.__struct_fields__)


async def context_for(scope: AdminScope, tenant_id: uuid.UUID) -> TenantContext:
    row = await db.fetchrow("SELECT slug, country FROM tenant WHERE id = {}", tenant_id)
    return TenantContext(
        tenant_id=tenant_id, tenant_slug=row["slug"], actor=f"staff:{scope.user_id}",
        country=row["country"] or "",
    )


class acting_for:
    """Marks the admin transaction as this tenant's for the services' guard
    (`db.require_tenant`); RLS already allows it through `app.tenant_ids`."""

    def __init__(self, tenant_id: uuid.UUID) -> None:
        self.tenant_id = tenant_id

    def __enter__(self) -> None:
        self.token = db.current_tenant.set(self.tenant_id)

    def __exit__(self, *exc: Any) -> None:
        db.current_tenant.reset(self.token)


def _contact_values(data: dict) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in CONTACT_FIELDS:
        if name not in data:
            continue
        value = data[name]
        if value == "":
            value = None
        if name == "attributes" and isinstance(value, str):
            value = json.loads(value or "{}")
        values[name] = value
    return values


def problem(exc: Exception) -> Response:
    status = getattr(exc, "status", 422)
    return JSONResponse({"db_error": str(exc)}, status_code=status)


def _out(contact: Any, status: int) -> Response:
    return Response(msgspec.json.encode(contact), status_code=status,
                    media_type="application/json")


async def create_contact(
    request: Request, scope: AdminScope, tenant_id: uuid.UUID, row_id: Optional[Any], data: dict
) -> Response:
    ctx = await context_for(scope, tenant_id)
    try:
        payload = msgspec.convert(_contact_values(data), ContactIn)
        with acting_for(tenant_id):
            created = await contacts.create_contact(ctx, payload)
    except (DomainError, msgspec.ValidationError, ValueError) as exc:
        return problem(exc)
    return Response(msgspec.json.encode([{"id": created.id}]), status_code=201,
                    media_type="application/json")


async def update_contact(
    request: Request, scope: AdminScope, tenant_id: uuid.UUID, row_id: Optional[Any], data: dict
) -> Response:
    ctx = await context_for(scope, tenant_id)
    try:
        payload = msgspec.convert(_contact_values(data), ContactPatch)
        with acting_for(tenant_id):
            updated = await contacts.patch_contact(ctx, row_id, payload)
    except (DomainError, msgspec.ValidationError, ValueError) as exc:
        return problem(exc)
    if request.method == "PUT":
        return Response(status_code=204)
    return _out(updated, 200)


def _json_list(value: Any) -> Any:
    return json.loads(value or "[]") if isinstance(value, str) else value


async def create_notice(
    request: Request, scope: AdminScope, tenant_id: uuid.UUID, row_id: Optional[Any], data: dict
) -> Response:
    """Version and text digest are the service's; the purpose (already checked
    to be this tenant's) is named by key as in the API."""
    ctx = await context_for(scope, tenant_id)
    row = await db.fetchrow(
        "SELECT key FROM purpose WHERE tenant_id = {} AND id = {}", tenant_id,
        uuid.UUID(str(data.get("purpose"))),
    )
    try:
        payload = msgspec.convert({
            "purpose": row["key"], "channels": _json_list(data.get("channels")),
            "language": data.get("language"), "text": data.get("text"),
            "partners": _json_list(data.get("partners")) or [],
            "policy_url": data.get("policy_url") or None,
        }, NoticeIn)
        with acting_for(tenant_id):
            created = await notices.create_notice(ctx, payload)
    except (DomainError, msgspec.ValidationError, ValueError) as exc:
        return problem(exc)
    return Response(msgspec.json.encode([{"id": created.id}]), status_code=201,
                    media_type="application/json")


async def immutable(
    request: Request, scope: AdminScope, tenant_id: uuid.UUID, row_id: Optional[Any], data: dict
) -> Response:
    return JSONResponse({"db_error": "Notices never change; write a new version."},
                        status_code=403)


async def erase_contact(
    request: Request, scope: AdminScope, tenant_id: uuid.UUID, row_id: Optional[Any], data: dict
) -> Response:
    """Deleting a contact is an erasure (DESIGN, "Erasure"), never a raw row
    delete, which would leave the ledger's personal fields and the outbox behind."""

    ctx = await context_for(scope, tenant_id)
    try:
        with acting_for(tenant_id):
            await erase(ctx, uuid.UUID(str(row_id)))
    except (DomainError, ValueError) as exc:
        return problem(exc)
    return Response(status_code=204)
