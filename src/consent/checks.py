"""The batch consent check (`POST /v1/consent-check`): up to 1,000 questions
"may we contact this person on this channel for this purpose?" answered by
one set-based statement instead of one query per item.

The items travel as arrays (PostgreSQL `unnest`) or one JSON document
(SQLite `json_each`); each finds its contact by the one identifier it names
(three index lookups, UNION ALL), then its purpose, state and suppression —
the same joins as the single check (consents.CHECK_BY), so both answer alike.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Optional

from consent import contacts, phone, suppression, tracking
from consent.ledger import states
from consent.schemas import CheckItem, CheckOut
from optinbase import db
from optinbase.context import TenantContext
from optinbase.errors import Invalid, invalid_field

_WANTED = {
    "postgres": (
        "SELECT * FROM unnest({index}::int[], {email}::text[], {phone}::text[], {id}::uuid[],"
        " {channel}::text[], {purpose}::text[]) AS w(i, email, phone, id, channel, purpose)"
    ),
    "sqlite": (
        "SELECT json_extract(value, '$[0]') AS i, json_extract(value, '$[1]') AS email,"
        " json_extract(value, '$[2]') AS phone, json_extract(value, '$[3]') AS id,"
        " json_extract(value, '$[4]') AS channel, json_extract(value, '$[5]') AS purpose"
        " FROM json_each({items})"
    ),
}

_FOUND_BY = (
    "SELECT w.i, w.channel, w.purpose, c.id AS contact_id, c.phone, c.restricted_at,"
    " c.email_hash, c.phone_hash FROM wanted w"
    " LEFT JOIN contact c ON c.tenant_id = {{tenant}} AND c.{column} = w.{column}"
    " WHERE w.{column} IS NOT NULL"
)

_CHECK_MANY = (
    "WITH wanted AS ({wanted}),"
    " found AS (" + " UNION ALL ".join(_FOUND_BY.format(column=c) for c in ("email", "phone", "id"))
    + ")"
    " SELECT f.i, p.id AS purpose_id, f.contact_id, f.phone, f.restricted_at, s.status, s.since,"
    " s.expires_at, s.event_id,"
    " CASE WHEN f.channel = 'email' THEN "
    + tracking.granted_sql("{tenant}", "f.contact_id", now="{now}") + " ELSE FALSE END AS tracking,"
    " EXISTS (SELECT 1 FROM suppression x WHERE x.tenant_id = {tenant}"
    "  AND x.identifier_hash IN (f.email_hash, f.phone_hash)"
    "  AND x.channel IN (f.channel, 'all')) AS suppressed"
    " FROM found f"
    " LEFT JOIN purpose p ON p.tenant_id = {tenant} AND p.key = f.purpose"
    " LEFT JOIN consent_state s ON s.tenant_id = {tenant} AND s.contact_id = f.contact_id"
    "  AND s.purpose_id = p.id AND s.channel = f.channel"
)
CHECK_MANY = {engine: _CHECK_MANY.replace("{wanted}", wanted) for engine, wanted in _WANTED.items()}


def outcome(row: Any, now: dt.datetime, channel: str, listed: bool = False) -> CheckOut:
    """The answer for one found row (single and batch check alike): allowed
    only when granted and unexpired, not suppressed, not restricted; e-mail
    tracking only where sending is allowed (consent.tracking). `listed`: the
    identifier asked is on the suppression list, for someone not in the base."""
    if row["contact_id"] is None:
        return CheckOut(allowed=False, status="none", suppressed=listed)
    if row["status"] is None:
        return CheckOut(allowed=False, status="none", suppressed=bool(row["suppressed"]))
    status = states.effective_status(row["status"], row["expires_at"], now)
    suppressed = bool(row["suppressed"])
    restricted = row["restricted_at"] is not None  # GDPR Art. 18: kept, not used
    allowed = status == "granted" and not suppressed and not restricted
    return CheckOut(
        allowed=allowed, status=status,
        since=row["since"], event_id=row["event_id"], suppressed=suppressed,
        restricted=restricted,
        tracking_allowed=allowed and channel == "email" and bool(row["tracking"]),
    )


async def finish(ctx: TenantContext, item: CheckItem, row: Any, now: dt.datetime,
                 listed: bool = False) -> CheckOut:
    """`outcome`, then for a phone call the calling rules at the call's time
    (`item.at`, default now): a refusal says its `reason` (consent.calling)."""
    out = outcome(row, now, item.channel, listed)
    if out.allowed and item.channel == "phone":
        reason = await phone.calling_reason(ctx, row["contact_id"], row["phone"],
                                            item.at or now)
        if reason is not None:
            out.allowed, out.reason = False, reason
    return out


def _identifier(item: CheckItem, index: int) -> tuple[str, Any]:
    given = [(n, v) for n, v in (("email", item.email), ("phone", item.phone),
                                 ("id", item.contact_id)) if v is not None]
    if len(given) != 1:
        raise _at(index, invalid_field("email", "give exactly one of email, phone or contact_id"))
    return given[0]


def _at(index: int, exc: Invalid) -> Invalid:
    """The error named by its item, as `items[3].email`."""
    errors = [{**e, "field": f"items[{index}].{e['field']}"} for e in exc.extra["errors"]]
    return Invalid(f"items[{index}]: {exc.detail}", errors=errors)


def _full_form(ctx: TenantContext, index: int, column: str, value: Any) -> Any:
    if column == "id":
        return value
    try:
        return contacts.normalised(ctx, {column: value})[column]
    except Invalid as exc:
        raise _at(index, exc) from None


async def _run(ctx: TenantContext, asked: dict[int, tuple[str, Any, CheckItem]],
               now: dt.datetime) -> dict[int, Any]:
    indexes = sorted(asked)
    columns = {name: [asked[i][1] if asked[i][0] == name else None for i in indexes]
               for name in ("email", "phone", "id")}
    channels = [asked[i][2].channel for i in indexes]
    purposes = [asked[i][2].purpose for i in indexes]
    if db.is_postgres():
        found = await db.fetch(CHECK_MANY["postgres"], index=indexes, channel=channels,
                               purpose=purposes, tenant=ctx.tenant_id, now=now, **columns)
    else:
        items = json.dumps([[i, e, p, None if c is None else str(c), ch, pu] for
                            i, e, p, c, ch, pu in zip(indexes, columns["email"], columns["phone"],
                                                      columns["id"], channels, purposes)])
        found = await db.fetch(CHECK_MANY["sqlite"], items=items, tenant=ctx.tenant_id, now=now)
    return {int(row["i"]): row for row in found}


async def check_many(ctx: TenantContext, items: list[CheckItem]) -> list[CheckOut]:
    """Answers in the order asked. ASCII addresses are looked up in their
    trimmed lower-case form first (the stored normal form for ASCII, as the
    single check does); only those that find nobody are validated in full —
    a typo is a 422 naming its item — and asked again if their full form
    differs. An unknown purpose is a 422 naming its item."""
    db.require_tenant(ctx.tenant_id)
    now = dt.datetime.now(dt.timezone.utc)
    asked: dict[int, tuple[str, Any, CheckItem]] = {}
    fast: set[int] = set()
    for index, item in enumerate(items):
        column, value = _identifier(item, index)
        if item.at is not None and item.at.tzinfo is None:
            raise _at(index, invalid_field("at", "needs a time zone (RFC 3339, e.g. ...Z)"))
        if column == "email" and value.isascii():
            asked[index] = (column, value.strip().lower(), item)
            fast.add(index)
        else:
            asked[index] = (column, _full_form(ctx, index, column, value), item)
    rows = await _run(ctx, asked, now)
    again: dict[int, tuple[str, Any, CheckItem]] = {}
    for index in sorted(fast):
        row = rows[index]
        if row["purpose_id"] is not None and row["contact_id"] is None:
            column, value, item = asked[index]
            full = _full_form(ctx, index, column, item.email)
            if full != value:
                again[index] = (column, full, item)
    if again:
        rows.update(await _run(ctx, again, now))
    unknown = {index: ((again.get(index) or asked[index])[1], items[index].channel)
               for index, row in rows.items()
               if row["contact_id"] is None and asked[index][0] != "id"}
    listed = await suppression.which_are_listed(ctx, unknown)
    results: list[CheckOut] = []
    for index in range(len(items)):
        row: Optional[Any] = rows.get(index)
        if row is None or row["purpose_id"] is None:
            raise _at(index, invalid_field("purpose", f"unknown purpose {items[index].purpose!r}"))
        results.append(await finish(ctx, items[index], row, now, listed=index in listed))
    return results
