"""Audit trail of staff and integrator actions. Details never carry personal
data (field names, counts and ids only), so erasure has little to scrub."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any, Optional

import msgspec

from optinbase import cursors, db
from optinbase.context import TenantContext
from optinbase.cursors import Page


class AuditEventOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    at: dt.datetime
    actor: str
    action: str
    object_type: str
    object_id: Optional[str]
    details: dict[str, Any]


async def record(
    ctx: TenantContext,
    action: str,
    object_type: str,
    object_id: Any = None,
    details: Optional[dict[str, Any]] = None,
) -> None:
    db.require_tenant(ctx.tenant_id)
    await db.execute(
        "INSERT INTO audit_event (id, tenant_id, at, actor, action, object_type, object_id,"
        " details) VALUES ({id}, {tenant}, {at}, {actor}, {action}, {object_type}, {object_id},"
        " {details})",
        id=uuid.uuid4(), tenant=ctx.tenant_id, at=dt.datetime.now(dt.timezone.utc),
        actor=ctx.actor, action=action, object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        details=json.dumps(details or {}),
    )


async def list_events(ctx: TenantContext, limit: int, cursor: Optional[str]) -> Page:
    db.require_tenant(ctx.tenant_id)
    after_at, after_id = cursors.decode_pair(cursor) if cursor else (None, None)
    if after_at is None:
        rows = await db.fetch(
            "SELECT id, at, actor, action, object_type, object_id, details FROM audit_event"
            " WHERE tenant_id = {} ORDER BY at, id LIMIT {}",
            ctx.tenant_id, limit + 1,
        )
    else:
        rows = await db.fetch(
            "SELECT id, at, actor, action, object_type, object_id, details FROM audit_event"
            " WHERE tenant_id = {tenant} AND (at > {at} OR (at = {at} AND id > {id}))"
            " ORDER BY at, id LIMIT {limit}",
            tenant=ctx.tenant_id, at=after_at, id=after_id, limit=limit + 1,
        )
    items = [
        AuditEventOut(
            id=r["id"], at=r["at"], actor=r["actor"], action=r["action"],
            object_type=r["object_type"], object_id=r["object_id"],
            details=r["details"],
        )
        for r in rows[:limit]
    ]
    next_cursor = (
        cursors.encode_pair(items[-1].at, items[-1].id) if len(rows) > limit else None
    )
    return Page(items=items, next_cursor=next_cursor)
