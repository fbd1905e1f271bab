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

from admin.scope import AdminScope, acting
from consent import contacts, notices
from consent.erasure import erase_contact as erase
from consent.schemas import ContactIn, ContactPatch, NoticeIn
from optinbase import db
from optinbase.errors import DomainError

CONTACT_FIELDS = tuple(ContactPatch.__struct_fields__)


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
    try:
        payload = msgspec.convert(_contact_values(data), ContactIn)
        async with acting(scope, tenant_id) as ctx:
            created = await contacts.create_contact(ctx, payload)
    except (DomainError, msgspec.ValidationError, ValueError) as exc:
        return problem(exc)
    return Response(msgspec.json.encode([{"id": created.id}]), status_code=201,
                    media_type="application/json")


async def update_contact(
    request: Request, scope: AdminScope, tenant_id: uuid.UUID, row_id: Optional[Any], data: dict
) -> Response:
    try:
        payload = msgspec.convert(_contact_values(data), ContactPatch)
        async with acting(scope, tenant_id) as ctx:
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
        async with acting(scope, tenant_id) as ctx:
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

    try:
        async with acting(scope, tenant_id) as ctx:
            await erase(ctx, uuid.UUID(str(row_id)))
    except (DomainError, ValueError) as exc:
        return problem(exc)
    return Response(status_code=204)
