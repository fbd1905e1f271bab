"""Notices: the exact wording shown when consent was asked. Versioned per
purpose, hashed, never edited (a database trigger refuses updates)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from typing import Any, Optional

from consent import purposes
from consent.schemas import NoticeIn, NoticeOut
from optinbase import audit, cursors, db
from optinbase.context import TenantContext
from optinbase.cursors import Page
from optinbase.errors import NotFound, invalid_field

_SELECT = (
    "SELECT n.id, p.key AS purpose, n.purpose_id, n.channels, n.language, n.version, n.text,"
    " n.text_sha256, n.partners, n.policy_url, n.created_at FROM notice n"
    " JOIN purpose p ON p.tenant_id = n.tenant_id AND p.id = n.purpose_id"
)



def _out(row: Any) -> NoticeOut:
    return NoticeOut(
        id=row["id"], purpose=row["purpose"], channels=row["channels"],
        language=row["language"], version=int(row["version"]), text=row["text"],
        text_sha256=row["text_sha256"], partners=row["partners"],
        policy_url=row["policy_url"], created_at=row["created_at"],
    )


async def create_notice(ctx: TenantContext, data: NoticeIn) -> NoticeOut:
    purpose = await purposes.find_purpose(ctx, data.purpose)
    if purpose is None:
        raise invalid_field("purpose", f"unknown purpose {data.purpose!r}")
    if purpose["retired"]:
        raise invalid_field("purpose", f"purpose {data.purpose!r} is retired")
    if len(set(data.channels)) != len(data.channels):
        raise invalid_field("channels", "lists a channel twice")
    if purpose["kind"] == "tracking" and data.channels != ["email"]:
        # Asked on its own: never one tick with another channel (CNIL, 2025).
        raise invalid_field("channels", "a tracking purpose is asked for the email channel only")
    purpose_id = purpose["id"]
    version = (
        await db.fetchval(
            "SELECT COALESCE(MAX(version), 0) FROM notice WHERE tenant_id = {} AND purpose_id = {}",
            ctx.tenant_id, purpose_id,
        )
        or 0
    ) + 1
    notice_id = uuid.uuid4()
    await db.execute(
        "INSERT INTO notice (id, tenant_id, purpose_id, channels, language, version, text,"
        " text_sha256, partners, policy_url, created_at)"
        " VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
        notice_id, ctx.tenant_id, purpose_id, json.dumps(data.channels), data.language,
        version, data.text, hashlib.sha256(data.text.encode()).hexdigest(),
        json.dumps(data.partners), data.policy_url, dt.datetime.now(dt.timezone.utc),
    )
    await audit.record(
        ctx, "notice.created", "notice", notice_id, {"purpose": data.purpose, "version": version}
    )
    return await get_notice(ctx, notice_id)


async def find_notice(ctx: TenantContext, notice_id: uuid.UUID) -> Optional[Any]:
    db.require_tenant(ctx.tenant_id)
    return await db.fetchrow(
        _SELECT + " WHERE n.tenant_id = {} AND n.id = {}", ctx.tenant_id, notice_id
    )


async def get_notice(ctx: TenantContext, notice_id: uuid.UUID) -> NoticeOut:
    row = await find_notice(ctx, notice_id)
    if row is None:
        raise NotFound("notice not found")
    return _out(row)


async def versions_of(ctx: TenantContext, ids: set[uuid.UUID]) -> dict[uuid.UUID, tuple[int, str]]:
    """Version and language of each of these notices (a contact's history)."""
    db.require_tenant(ctx.tenant_id)
    if not ids:
        return {}
    rows = await db.fetch(
        "SELECT id, version, language FROM notice WHERE tenant_id = {} AND id IN ("
        + ", ".join(["{}"] * len(ids)) + ")", ctx.tenant_id, *ids)
    return {r["id"]: (r["version"], r["language"]) for r in rows}


async def list_notices(ctx: TenantContext, purpose: Optional[str], limit: int,
                       cursor: Optional[str] = None) -> Page:
    """By purpose key and version, `limit` at a time (keyset on both)."""
    db.require_tenant(ctx.tenant_id)
    where, args = " WHERE n.tenant_id = {}", [ctx.tenant_id]
    if purpose:
        where, args = where + " AND p.key = {}", [*args, purpose]
    if cursor is not None:
        key, _, version = cursors.decode_text(cursor).rpartition("|")
        if not version.isdigit():
            raise invalid_field("cursor", "is not a cursor this API returned")
        where += " AND (p.key > {} OR (p.key = {} AND n.version > {}))"
        args += [key, key, int(version)]
    rows = await db.fetch(_SELECT + where + " ORDER BY p.key, n.version LIMIT {}",
                          *args, limit + 1)
    return cursors.page_of([_out(r) for r in rows], limit,
                           lambda n: cursors.encode_text(f"{n.purpose}|{n.version}"))
