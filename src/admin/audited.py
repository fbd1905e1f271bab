"""Staff edits of purposes and segments made in the admin's table views go through
the same services as the API: segment rules are parsed by the segment language
(an unknown node is refused with its path, e.g. `rules[1].value`, instead of
breaking every later access request), and each change writes the audit event the
API writes, naming only the fields whose value changed (the table view sends
every field back on save)."""

from __future__ import annotations

import json
import uuid
from typing import Any, Optional

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from admin.scope import AdminScope, acting
from admin.writers import problem
from consent import purposes
from consent.schemas import PurposeIn, PurposePatch
from consent.segments import service as segments
from consent.segments.schemas import SegmentIn, SegmentPatch
from optinbase.errors import DomainError

REFUSED = (DomainError, msgspec.ValidationError, ValueError)
PURPOSE_FIELDS = tuple(PurposePatch.__struct_fields__)


def _created(object_id: uuid.UUID) -> Response:
    return Response(msgspec.json.encode([{"id": object_id}]), status_code=201,
                    media_type="application/json")


def _saved(request: Request, out: Any) -> Response:
    if request.method == "PUT":
        return Response(status_code=204)
    return Response(msgspec.json.encode(out), media_type="application/json")


def _rules(value: Any) -> Any:
    """The JSON editor hands rules over as text."""
    return json.loads(value) if isinstance(value, str) else value


async def create_segment(request: Request, scope: AdminScope, tenant_id: uuid.UUID,
                         row_id: Optional[Any], data: dict) -> Response:
    try:
        payload = msgspec.convert({"name": data.get("name"), "rules": _rules(data.get("rules"))},
                                  SegmentIn)
        async with acting(scope, tenant_id) as ctx:
            created = await segments.create_segment(ctx, payload)
    except REFUSED as exc:
        return problem(exc)
    return _created(created.id)


async def update_segment(request: Request, scope: AdminScope, tenant_id: uuid.UUID,
                         row_id: Optional[Any], data: dict) -> Response:
    try:
        async with acting(scope, tenant_id) as ctx:
            current = await segments.get_segment(ctx, uuid.UUID(str(row_id)))
            changes: dict[str, Any] = {}
            if "name" in data and data["name"] != current.name:
                changes["name"] = data["name"]
            if "rules" in data and _rules(data["rules"]) != current.rules:
                changes["rules"] = _rules(data["rules"])
            out = current
            if changes:
                out = await segments.patch_segment(ctx, current.id,
                                                   msgspec.convert(changes, SegmentPatch))
    except REFUSED as exc:
        return problem(exc)
    return _saved(request, out)


async def delete_segment(request: Request, scope: AdminScope, tenant_id: uuid.UUID,
                         row_id: Optional[Any], data: dict) -> Response:
    try:
        async with acting(scope, tenant_id) as ctx:
            await segments.delete_segment(ctx, uuid.UUID(str(row_id)))
    except REFUSED as exc:
        return problem(exc)
    return Response(status_code=204)


async def create_purpose(request: Request, scope: AdminScope, tenant_id: uuid.UUID,
                         row_id: Optional[Any], data: dict) -> Response:
    values = {k: data[k] for k in ("key", "name", "description", "legal_basis", "dpv_purpose")
              if data.get(k) not in (None, "")}
    try:
        async with acting(scope, tenant_id) as ctx:
            created = await purposes.create_purpose(ctx, msgspec.convert(values, PurposeIn))
    except REFUSED as exc:
        return problem(exc)
    return _created(created.id)


async def update_purpose(request: Request, scope: AdminScope, tenant_id: uuid.UUID,
                         row_id: Optional[Any], data: dict) -> Response:
    values = {k: data[k] for k in PURPOSE_FIELDS if k in data and data[k] is not None}
    try:
        async with acting(scope, tenant_id) as ctx:
            purpose_id = uuid.UUID(str(row_id))
            if "key" in data:
                known = await purposes.purpose_keys(ctx)
                if known.get(purpose_id) != data["key"]:
                    return JSONResponse({"db_error": "A purpose's key never changes: notices"
                                         " and segments name it."}, status_code=422)
            out = await purposes.patch_purpose(ctx, purpose_id,
                                               msgspec.convert(values, PurposePatch))
    except REFUSED as exc:
        return problem(exc)
    return _saved(request, out)
