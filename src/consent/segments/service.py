"""Segments: saved rules, their count and their export for one channel and purpose.

Count and export always intersect the rules with consent valid now for the
asked channel and purpose, minus the exclusions hook (audience.py).
"""

from __future__ import annotations

import asyncio
import contextvars
import datetime as dt
import json
import uuid
from dataclasses import dataclass
from typing import Any, AsyncIterator, Optional

import anyio
import msgspec

from consent import purposes
from consent.segments import audience, export, platforms
from consent.segments import rules as r
from consent.segments.schemas import CountOut, SegmentIn, SegmentOut, SegmentPatch
from consent.tokens import Signer
from optinbase import audit, cursors, db
from optinbase.context import TenantContext
from optinbase.cursors import Page
from tenants import envelope
from optinbase.errors import Invalid, NotFound, invalid_field

_COLUMNS = "id, name, rules, created_at, updated_at"


def _out(row: Any) -> SegmentOut:
    rules = row["rules"]
    return SegmentOut(
        id=row["id"], name=row["name"],
        rules=rules,
        created_at=row["created_at"], updated_at=row["updated_at"],
    )


async def _checked_rules(ctx: TenantContext, raw: dict[str, Any]) -> r.Rule:
    """Parsed rules whose consent conditions name purposes of this tenant."""
    rule = r.parse(raw)
    for path, key in r.purposes_named(rule):
        if await purposes.find_purpose(ctx, key) is None:
            raise Invalid(f"{path}: unknown purpose {key!r}",
                          errors=[{"field": path, "message": f"unknown purpose {key!r}"}])
    return rule


async def _find(ctx: TenantContext, segment_id: uuid.UUID) -> Any:
    db.require_tenant(ctx.tenant_id)
    row = await db.fetchrow(
        f"SELECT {_COLUMNS} FROM segment WHERE tenant_id = {{}} AND id = {{}}",
        ctx.tenant_id, segment_id,
    )
    if row is None:
        raise NotFound("segment not found")
    return row


async def create_segment(ctx: TenantContext, data: SegmentIn) -> SegmentOut:
    db.require_tenant(ctx.tenant_id)
    rule = await _checked_rules(ctx, data.rules)
    segment_id, now = uuid.uuid4(), dt.datetime.now(dt.timezone.utc)
    await db.execute(
        "INSERT INTO segment (id, tenant_id, name, rules, created_at, updated_at)"
        " VALUES ({}, {}, {}, {}, {}, {})",
        segment_id, ctx.tenant_id, data.name, json.dumps(r.to_json(rule)), now, now,
    )
    await audit.record(ctx, "segment.created", "segment", segment_id)
    return _out(await _find(ctx, segment_id))


async def get_segment(ctx: TenantContext, segment_id: uuid.UUID) -> SegmentOut:
    return _out(await _find(ctx, segment_id))


async def list_segments(ctx: TenantContext, limit: int, cursor: Optional[str]) -> Page:
    db.require_tenant(ctx.tenant_id)
    after_at, after_id = cursors.decode_pair(cursor) if cursor else (None, None)
    if after_at is None:
        rows = await db.fetch(
            f"SELECT {_COLUMNS} FROM segment WHERE tenant_id = {{}}"
            " ORDER BY created_at, id LIMIT {}",
            ctx.tenant_id, limit + 1,
        )
    else:
        rows = await db.fetch(
            f"SELECT {_COLUMNS} FROM segment WHERE tenant_id = {{}}"
            " AND (created_at > {} OR (created_at = {} AND id > {}))"
            " ORDER BY created_at, id LIMIT {}",
            ctx.tenant_id, after_at, after_at, after_id, limit + 1,
        )
    items = [_out(row) for row in rows[:limit]]
    next_cursor = (
        cursors.encode_pair(items[-1].created_at, items[-1].id) if len(rows) > limit else None
    )
    return Page(items=items, next_cursor=next_cursor)


async def patch_segment(
    ctx: TenantContext, segment_id: uuid.UUID, data: SegmentPatch
) -> SegmentOut:
    row = await _find(ctx, segment_id)
    name = row["name"] if data.name is msgspec.UNSET else data.name
    rules = row["rules"]
    if data.rules is not msgspec.UNSET:
        rules = json.dumps(r.to_json(await _checked_rules(ctx, data.rules)))
    elif not isinstance(rules, str):
        rules = json.dumps(rules)
    await db.execute(
        "UPDATE segment SET name = {}, rules = {}, updated_at = {}"
        " WHERE tenant_id = {} AND id = {}",
        name, rules, dt.datetime.now(dt.timezone.utc), ctx.tenant_id, segment_id,
    )
    changed = sorted(f for f in ("name", "rules") if getattr(data, f) is not msgspec.UNSET)
    await audit.record(ctx, "segment.updated", "segment", segment_id, {"fields": changed})
    return _out(await _find(ctx, segment_id))


async def delete_segment(ctx: TenantContext, segment_id: uuid.UUID) -> None:
    await _find(ctx, segment_id)
    await db.execute(
        "DELETE FROM segment WHERE tenant_id = {} AND id = {}", ctx.tenant_id, segment_id
    )
    await audit.record(ctx, "segment.deleted", "segment", segment_id)


# --- audience ------------------------------------------------------------------


async def _where(
    ctx: TenantContext, segment_id: uuid.UUID, channel: str, purpose: str
) -> tuple[r.Rule, dict[str, Any]]:
    row = await _find(ctx, segment_id)
    found = await purposes.find_purpose(ctx, purpose)
    if found is None:
        raise invalid_field("purpose", f"unknown purpose {purpose!r}")
    stored = row["rules"]
    rule = r.parse(stored)
    return rule, dict(
        tenant_id=ctx.tenant_id, channel=channel, purpose_id=found["id"],
        now=dt.datetime.now(dt.timezone.utc), postgres=db.is_postgres(),
    )


async def count(
    ctx: TenantContext, segment_id: uuid.UUID, channel: str, purpose: str
) -> CountOut:
    rule, where = await _where(ctx, segment_id, channel, purpose)
    query = audience.count_query(rule, **where)
    return CountOut(count=int(await db.fetchval(query.text, *query.args)),
                    channel=channel, purpose=purpose)


@dataclass
class Export:
    media_type: str
    filename: str
    chunks: AsyncIterator[bytes]


async def start_export(
    ctx: TenantContext, segment_id: uuid.UUID, channel: str, purpose: str, fmt: str,
    *, secret_key: str, public_url: str,
) -> Export:
    """Checks everything before the first byte (errors are still problem
    documents), records that the export started, and returns the stream, which
    records the row count when it ends. The ad platforms' files (`meta`,
    `google`) are for a `social_ads` audience only: another channel's consent
    never covers an upload to an ad platform."""
    if fmt in platforms.HEADERS and channel != platforms.AD_CHANNEL:
        raise invalid_field("format", f"format={fmt} exports a social_ads audience:"
                                      " ask with channel=social_ads")
    rule, where = await _where(ctx, segment_id, channel, purpose)
    details = {"channel": channel, "purpose": purpose, "format": fmt}
    await _record_apart(ctx, "segment.export_started", segment_id, details)

    async def finished(rows: int, complete: bool) -> None:
        await _record_apart(
            ctx, "segment.exported", segment_id, {**details, "rows": rows, "complete": complete}
        )

    signer = Signer(secret_key, ctx.tenant_id, where["purpose_id"], channel)
    if fmt == "csv" and where["postgres"]:
        query = audience.export_copy_query(rule, public_url=public_url, **where)
        chunks = export.copy_stream(query, signer, finished)
    else:
        links = export.Links(signer, public_url)
        chunks = export.stream(audience.export_query(rule, **where), fmt, links, finished)
    extension = "ndjson" if fmt == "ndjson" else "csv"
    name = fmt if fmt in platforms.HEADERS else channel
    return Export(export.MEDIA_TYPES[fmt], f"segment-{segment_id}-{name}.{extension}", chunks)


async def _record_apart(
    ctx: TenantContext, action: str, segment_id: uuid.UUID, details: dict[str, Any]
) -> None:
    """An audit event in its own short write transaction.

    The export runs inside the request's transaction, which is READ ONLY for a
    GET (PostgreSQL refuses the INSERT there) and stays open while rows stream;
    a transaction for the same tenant joins an open one rather than nesting. So the
    event is written from a task with a fresh context (no current transaction):
    another connection, committed at once, whatever becomes of the stream. On
    SQLite this relies on WAL mode (db.start), where a writer never waits for
    the open reader. Shielded: a client hanging up mid-export must not cancel it.
    """

    async def write() -> None:
        async with envelope.tenant(ctx, write=True):
            await audit.record(ctx, action, "segment", segment_id, details)

    task = asyncio.get_running_loop().create_task(write(), context=contextvars.Context())
    with anyio.CancelScope(shield=True):
        await task
