"""Re-permission campaigns: a new notice version (new partners, new wording)
is a material change for the people who agreed to an older one, so the tenant
asks them again.

A campaign takes a segment and the (channel, purpose) whose consent it
renews: everyone in the segment's audience for that channel and purpose (valid
consent now, not suppressed nor restricted — the audience every export reads)
who has an e-mail address gets a re-consent e-mail (consent.reconsent) with a
link to the new notice. Typically the segment says who agreed to an older
version: `{"type": "consent", "channel": "email", "purpose": "newsletter",
"notice_version": {"lt": 3}}`. Progress is counted on the campaign row (sent,
confirmed, pending) and shown by the API and the admin.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Optional

import msgspec
from msgspec import Meta

from consent import notices, purposes, reconsent
from consent.schemas import Channel, Input, Key
from consent.segments import audience
from consent.segments import rules as r
from optinbase import audit, cursors, db
from optinbase.context import TenantContext
from optinbase.cursors import Page
from optinbase.errors import NotFound, invalid_field
from optinbase.settings import get_settings
from tenants import repository

BATCH = 1000


class CampaignIn(Input):
    name: Annotated[str, Meta(min_length=1, max_length=200)]
    segment_id: uuid.UUID
    purpose: Key
    notice_id: uuid.UUID
    channel: Channel = "email"


class CampaignOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    name: str
    segment_id: uuid.UUID
    purpose: str
    channel: str
    notice_id: uuid.UUID
    notice_version: int
    created_at: dt.datetime
    sent: int
    confirmed: int
    pending: int


_SELECT = (
    "SELECT k.id, k.name, k.segment_id, p.key AS purpose, k.channel, k.notice_id,"
    " n.version AS notice_version, k.created_at, k.sent, k.confirmed, k.pending"
    " FROM reconsent_campaign k"
    " JOIN purpose p ON p.tenant_id = k.tenant_id AND p.id = k.purpose_id"
    " JOIN notice n ON n.tenant_id = k.tenant_id AND n.id = k.notice_id"
)


def _out(row: Any) -> CampaignOut:
    return CampaignOut(
        id=row["id"], name=row["name"], segment_id=row["segment_id"],
        purpose=row["purpose"], channel=row["channel"], notice_id=row["notice_id"],
        notice_version=int(row["notice_version"]), created_at=row["created_at"],
        sent=int(row["sent"]), confirmed=int(row["confirmed"]), pending=int(row["pending"]))


async def _checked(ctx: TenantContext, data: CampaignIn) -> tuple[Any, Any, r.Rule]:
    """The purpose, the notice and the segment's rules, or a 422 naming the field."""
    purpose = await purposes.find_purpose(ctx, data.purpose)
    if purpose is None:
        raise invalid_field("purpose", f"unknown purpose {data.purpose!r}")
    notice = await notices.find_notice(ctx, data.notice_id)
    if notice is None or notice["purpose_id"] != purpose["id"]:
        raise invalid_field("notice_id", "not a notice of this purpose")
    if data.channel not in notice["channels"]:
        raise invalid_field("notice_id", f"the notice does not cover the {data.channel} channel")
    segment = await db.fetchrow("SELECT rules FROM segment WHERE tenant_id = {} AND id = {}",
                                ctx.tenant_id, data.segment_id)
    if segment is None:
        raise invalid_field("segment_id", "unknown segment")
    return purpose, notice, r.parse(segment["rules"])


async def create_campaign(ctx: TenantContext, data: CampaignIn) -> CampaignOut:
    """Checks, records the campaign and asks everyone in its audience with an
    e-mail address, in the caller's (write) transaction."""
    db.require_tenant(ctx.tenant_id)
    purpose, notice, rule = await _checked(ctx, data)
    tenant = await repository.tenant_by_id(ctx.tenant_id)
    if tenant is None:
        raise NotFound("tenant not found")
    now, campaign_id = dt.datetime.now(dt.timezone.utc), uuid.uuid4()
    await db.execute(
        "INSERT INTO reconsent_campaign (id, tenant_id, name, segment_id, purpose_id, channel,"
        " notice_id, actor, created_at, sent, confirmed, pending)"
        " VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, 0, 0, 0)",
        campaign_id, ctx.tenant_id, data.name, data.segment_id, purpose["id"],
        data.channel, data.notice_id, ctx.actor, now)
    settings = get_settings()
    query = audience.export_query(
        rule, tenant_id=ctx.tenant_id, channel=data.channel, purpose_id=purpose["id"],
        now=now, postgres=db.is_postgres())
    sent, after = 0, audience.FIRST_ID
    while True:
        page = await db.fetch(query.text, *query.args, *audience.batch_args(after, BATCH))
        sent += await reconsent.ask(
            ctx, tenant, [(row, None) for row in page if row["email"]], purpose=purpose,
            channel=data.channel, notice_id=data.notice_id, reason="campaign", now=now,
            secret_key=settings.secret_key, public_url=settings.public_url,
            campaign_id=campaign_id)
        if len(page) < BATCH:
            break
        after = page[-1]["id"]
    await db.execute("UPDATE reconsent_campaign SET sent = {}, pending = {} WHERE tenant_id = {}"
                     " AND id = {}", sent, sent, ctx.tenant_id, campaign_id)
    await audit.record(ctx, "reconsent_campaign.created", "reconsent_campaign", campaign_id,
                       {"purpose": data.purpose, "channel": data.channel, "sent": sent,
                        "notice_version": int(notice["version"])})
    return await get_campaign(ctx, campaign_id)


async def get_campaign(ctx: TenantContext, campaign_id: uuid.UUID) -> CampaignOut:
    db.require_tenant(ctx.tenant_id)
    row = await db.fetchrow(_SELECT + " WHERE k.tenant_id = {} AND k.id = {}",
                            ctx.tenant_id, campaign_id)
    if row is None:
        raise NotFound("campaign not found")
    return _out(row)


async def list_campaigns(ctx: TenantContext, limit: int, cursor: Optional[str]) -> Page:
    """Oldest first, cursor-paginated like every list."""
    db.require_tenant(ctx.tenant_id)
    after_at, after_id = cursors.decode_pair(cursor) if cursor else (None, None)
    if after_at is None:
        rows = await db.fetch(_SELECT + " WHERE k.tenant_id = {} ORDER BY k.created_at, k.id"
                              " LIMIT {}", ctx.tenant_id, limit + 1)
    else:
        rows = await db.fetch(
            _SELECT + " WHERE k.tenant_id = {} AND (k.created_at > {} OR (k.created_at = {}"
            " AND k.id > {})) ORDER BY k.created_at, k.id LIMIT {}",
            ctx.tenant_id, after_at, after_at, after_id, limit + 1)
    items = [_out(row) for row in rows[:limit]]
    next_cursor = (cursors.encode_pair(items[-1].created_at, items[-1].id)
                   if len(rows) > limit else None)
    return Page(items=items, next_cursor=next_cursor)
