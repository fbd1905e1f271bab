"""Recording consent changes and answering "may we contact this person?".

A change is one ledger event plus the matching state row, in the caller's
transaction. The state follows the event the person made last (by
`collected_at`): importing an old grant never overrides a later withdrawal.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import uuid
from typing import Any, Optional

import msgspec

from consent import checks, contacts, notices, phone, purposes, suppression, tracking
from consent.journey import double_opt_in
from consent.ledger import chain, states, verification
from consent.schemas import (
    PHONE_CHANNELS,
    CheckItem,
    CheckOut,
    ConsentEventOut,
    ConsentIn,
    ConsentStateOut,
)
from optinbase import cursors, db
from optinbase.context import TenantContext
from optinbase.cursors import Page
from optinbase.errors import NotFound, invalid_field
from optinbase.settings import get_settings
from tenants import repository

EVENT_ACTION = {"grant": "granted", "withdraw": "withdrawn", "refuse": "refused"}
def _check_ip(ip: Optional[str]) -> Optional[str]:
    if ip is None:
        return None
    try:
        return str(ipaddress.ip_address(ip.strip()))
    except ValueError:
        raise invalid_field("ip", "is not an IPv4 or IPv6 address") from None


async def _validated_notice(
    ctx: TenantContext, notice_id: uuid.UUID, purpose_id: uuid.UUID, channel: str
) -> uuid.UUID:
    notice = await notices.find_notice(ctx, notice_id)
    if notice is None:
        raise invalid_field("notice_id", "unknown notice")
    if notice["purpose_id"] != purpose_id:
        raise invalid_field("notice_id", "the notice was written for another purpose")
    channels = notice["channels"]
    if channel not in channels:
        raise invalid_field("notice_id", f"the notice does not cover the {channel} channel")
    return notice_id


async def record_consent(
    ctx: TenantContext, contact_id: uuid.UUID, data: ConsentIn
) -> ConsentEventOut:
    db.require_tenant(ctx.tenant_id)
    contact = await contacts.find_contact(ctx, contact_id)
    if contact is None:
        raise NotFound("contact not found")
    if data.action == "grant" and data.channel in PHONE_CHANNELS and not contact["phone"]:
        raise invalid_field("channel", f"a {data.channel} consent needs the contact's phone"
                            " number: add it to the contact first")
    phone.check_proof(data)
    # Withdrawals and refusals are always accepted; a grant is not, for a listed person.
    if data.action == "grant" and await suppression.is_suppressed(
        ctx, contact["email"], contact["phone"], data.channel
    ):
        raise invalid_field(
            "channel", f"the person is on the suppression list for the {data.channel} channel"
        )
    purpose = await purposes.find_purpose(ctx, data.purpose)
    if purpose is None:
        raise invalid_field("purpose", f"unknown purpose {data.purpose!r}")
    purpose_id = purpose["id"]
    notice_id = None
    if data.action == "grant":
        if purpose["retired"]:
            raise invalid_field("purpose", f"purpose {data.purpose!r} is retired")
        if data.notice_id is None:
            raise invalid_field("notice_id", "a grant needs the notice shown to the person")
    if data.notice_id is not None:
        notice_id = await _validated_notice(ctx, data.notice_id, purpose_id, data.channel)
    now = dt.datetime.now(dt.timezone.utc)
    collected_at = data.collected_at or now
    problem = chain.acted_at_problem(collected_at, now)
    if problem:
        raise invalid_field("collected_at", problem)
    action = EVENT_ACTION[data.action]
    tenant = await repository.tenant_by_id(ctx.tenant_id) if data.action == "grant" else None
    if tenant is not None and double_opt_in.needs_confirmation(
        tenant, data.channel, data.double_opt_in
    ):
        action = "requested"
    [event], [status] = await states.record(ctx, [
        chain.NewEvent(
            tenant_id=ctx.tenant_id, contact_id=contact_id, channel=data.channel,
            purpose_id=purpose_id, action=action, method=data.method,
            collected_at=collected_at, recorded_at=now, notice_id=notice_id,
            source=data.source, actor=ctx.actor, ip=_check_ip(data.ip),
            user_agent=data.user_agent,
        )
    ])
    await phone.store_proof(ctx, event["id"], data)
    if action == "requested":
        settings = get_settings()
        await double_opt_in.request_confirmation(
            ctx, tenant, contact, [(event, purpose["name"])],
            secret_key=settings.secret_key, public_url=settings.public_url,
        )
    out = _event_out(event, data.purpose, status)
    if data.proof is not None:
        out.proof = msgspec.structs.asdict(data.proof)
    return out


def _event_out(row: Any, purpose_key: str, status: Optional[str] = None) -> ConsentEventOut:
    return ConsentEventOut(
        id=row["id"], seq=int(row["seq"]),
        contact_id=None if row["contact_id"] is None else row["contact_id"],
        channel=row["channel"], purpose=purpose_key, action=row["action"], status=status,
        notice_id=None if row["notice_id"] is None else row["notice_id"],
        method=row["method"], source=row["source"], collected_at=row["collected_at"],
        recorded_at=row["recorded_at"], actor=row["actor"], ip=row["ip"],
        user_agent=row["user_agent"], prev_hash=row["prev_hash"], hash=row["hash"],
    )


async def list_states(ctx: TenantContext, contact_id: uuid.UUID) -> list[ConsentStateOut]:
    if await contacts.find_contact(ctx, contact_id) is None:
        raise NotFound("contact not found")
    rows = await db.fetch(
        "SELECT s.channel, p.key AS purpose, s.status, s.since, s.expires_at, s.event_id"
        " FROM consent_state s JOIN purpose p ON p.tenant_id = s.tenant_id AND p.id = s.purpose_id"
        " WHERE s.tenant_id = {} AND s.contact_id = {} ORDER BY p.key, s.channel",
        ctx.tenant_id, contact_id,
    )
    now = dt.datetime.now(dt.timezone.utc)
    return [
        ConsentStateOut(
            channel=r["channel"], purpose=r["purpose"],
            status=states.effective_status(r["status"], r["expires_at"], now),
            since=r["since"], expires_at=r["expires_at"], event_id=r["event_id"],
        )
        for r in rows
    ]


_EVENT_COLUMNS = (
    "e.id, e.seq, e.contact_id, e.channel, p.key AS purpose, e.action, e.notice_id, e.method,"
    " e.source, e.collected_at, e.recorded_at, e.actor, e.ip, e.user_agent, e.prev_hash, e.hash"
)


async def list_events(
    ctx: TenantContext, contact_id: uuid.UUID, limit: int, cursor: Optional[str]
) -> Page:
    if await contacts.find_contact(ctx, contact_id) is None:
        raise NotFound("contact not found")
    after = cursors.decode_int(cursor) if cursor else 0
    rows = await db.fetch(
        f"SELECT {_EVENT_COLUMNS} FROM consent_event e"
        " JOIN purpose p ON p.tenant_id = e.tenant_id AND p.id = e.purpose_id"
        " WHERE e.tenant_id = {} AND e.contact_id = {} AND e.seq > {} ORDER BY e.seq LIMIT {}",
        ctx.tenant_id, contact_id, after, limit + 1,
    )
    items = [_event_out(r, r["purpose"]) for r in rows[:limit]]
    next_cursor = cursors.encode_int(items[-1].seq) if len(rows) > limit else None
    return Page(items=items, next_cursor=next_cursor)


async def get_event(ctx: TenantContext, event_id: uuid.UUID) -> ConsentEventOut:
    db.require_tenant(ctx.tenant_id)
    row = await db.fetchrow(
        f"SELECT {_EVENT_COLUMNS} FROM consent_event e"
        " JOIN purpose p ON p.tenant_id = e.tenant_id AND p.id = e.purpose_id"
        " WHERE e.tenant_id = {} AND e.id = {}",
        ctx.tenant_id, event_id,
    )
    if row is None:
        raise NotFound("consent event not found")
    out = _event_out(row, row["purpose"])
    proof = await phone.proof_of(ctx, event_id) if row["channel"] == "phone" else None
    if proof is not None:
        out.proof = proof
    return out


# --- checks ---------------------------------------------------------------------

# The question asked before every send: one round trip, by the identifier the
# caller holds. A purpose row always comes back when the key exists, so "no
# row" means an unknown purpose and "no contact" means an unknown person.
# `tracking` says whether the person holds a valid consent to a tracking
# purpose on the e-mail channel (consent.tracking).
# Arguments in order: now (tracking), channel (suppression), identifier,
# channel, tenant, purpose.
_CHECK = (
    "SELECT c.id AS contact_id, c.id IS NOT NULL AS found, c.phone,"
    " c.restricted_at IS NOT NULL AS restricted, s.status,"
    " s.since, s.expires_at, s.event_id,"
    f" {tracking.GRANTED_SQL} AS tracking,"
    " EXISTS (SELECT 1 FROM suppression x WHERE x.tenant_id = p.tenant_id"
    "  AND x.identifier_hash IN (c.email_hash, c.phone_hash)"
    "  AND x.channel IN ({{}}, 'all')) AS suppressed"
    " FROM purpose p"
    " LEFT JOIN contact c ON c.tenant_id = p.tenant_id AND c.{column} = {{}}"
    " LEFT JOIN consent_state s ON s.tenant_id = p.tenant_id AND s.contact_id = c.id"
    "  AND s.purpose_id = p.id AND s.channel = {{}}"
    " WHERE p.tenant_id = {{}} AND p.key = {{}}"
)
CHECK_BY = {name: _CHECK.format(column=name) for name in ("email", "phone", "id")}


async def check(ctx: TenantContext, item: CheckItem) -> CheckOut:
    db.require_tenant(ctx.tenant_id)
    given = [(n, v) for n, v in (("email", item.email), ("phone", item.phone),
                                 ("id", item.contact_id)) if v is not None]
    if len(given) != 1:
        raise invalid_field("email", "give exactly one of email, phone or contact_id")
    column, value = given[0]
    if item.at is not None and item.at.tzinfo is None:
        raise invalid_field("at", "needs a time zone (RFC 3339, e.g. ...Z)")
    now = dt.datetime.now(dt.timezone.utc)
    row = None
    if column == "email" and value.isascii():
        # Fast path: stored addresses are normalised, and for ASCII the normal
        # form is the trimmed lower-case text; full validation (~25 µs) runs
        # only when that finds nobody, to tell a typo from an unknown person.
        row = await db.fetchrow(
            CHECK_BY[column], now, item.channel, value.strip().lower(), item.channel,
            ctx.tenant_id, item.purpose,
        )
        if row is not None and row["contact_id"] is None:
            row = None
    if row is None:
        if column != "id":
            value = contacts.normalised(ctx, {column: value})[column]
        row = await db.fetchrow(
            CHECK_BY[column], now, item.channel, value, item.channel, ctx.tenant_id, item.purpose
        )
    if row is None:
        raise invalid_field("purpose", f"unknown purpose {item.purpose!r}")
    listed = row["contact_id"] is None and column != "id" and await suppression.is_suppressed(
        ctx, value if column == "email" else None, value if column == "phone" else None,
        item.channel)
    return await checks.calling_rules(ctx, item, row, now,
                                      checks.outcome(row, now, item.channel, listed))


async def check_many(ctx: TenantContext, items: list[CheckItem]) -> list[CheckOut]:
    """Up to 1,000 checks in one set-based statement (consent/checks.py)."""
    return await checks.check_many(ctx, items)


async def verify_ledger(ctx: TenantContext) -> chain.VerifyResult:
    """The chain and every published checkpoint (opens its own snapshot)."""
    return (await verification.verify(ctx)).result
