"""The batch consent check (`POST /v1/consent-check`): up to 1,000 questions
"may we contact this person on this channel for this purpose?" answered by
one set-based statement instead of one query per item.

The items travel as arrays (PostgreSQL `unnest ... WITH ORDINALITY`) or one
JSON document (SQLite `json_each`); each finds its contact by the one
identifier it names (an index lookup per kind of identifier the batch uses,
UNION ALL), then its purpose, state and suppression — the same joins as the
single check (consents.CHECK_BY), so both answer alike.

Why it is shaped so (issue 14: a 1,000-item batch within 1.5 x a hand-written
`= ANY($1)` query): the client's work was as large as the server's — asyncpg
encodes every array element and decodes every column value one by one — so
only the arrays of the identifier kinds asked are sent (an all-e-mail batch
sends no phone or id arrays, and no branch looks them up), the position comes
from `WITH ORDINALITY` rather than an array of indexes, and the answer's
columns are the ones the outcome reads (flags, not the purpose id, the
restriction's time or, but for a phone call's rules, the contact's id). The
tracking lookup runs only for a granted e-mail state (tracking is only ever
allowed beside an allowed e-mail) of a tenant that has a tracking purpose, and
the suppression list is probed per person only when the tenant has one (both
conditions evaluated once per statement). The per-item work in Python is plain
calls, with an await only for an allowed phone call's rules.
"""

from __future__ import annotations

import datetime as dt
import json
from functools import lru_cache
from typing import Any, Optional

from consent import contacts, phone, suppression, tracking
from consent.ledger import states
from consent.schemas import CheckItem, CheckOut
from optinbase import db
from optinbase.context import TenantContext
from optinbase.errors import Invalid, invalid_field

KINDS = ("email", "phone", "id")
_ARRAY_TYPE = {"email": "text", "phone": "text", "id": "uuid"}

# SQLite: every item's six fields at fixed positions; `key` is its position.
_WANTED_SQLITE = (
    "SELECT key + 1 AS i, json_extract(value, '$[0]') AS email,"
    " json_extract(value, '$[1]') AS phone, json_extract(value, '$[2]') AS id,"
    " json_extract(value, '$[3]') AS channel, json_extract(value, '$[4]') AS purpose"
    " FROM json_each({items})"
)

_FOUND_BY = (
    "SELECT w.i, w.channel, w.purpose, c.id AS contact_id, c.phone, c.restricted_at,"
    " c.email_hash, c.phone_hash FROM wanted w"
    " LEFT JOIN contact c ON c.tenant_id = {{tenant}} AND c.{column} = w.{column}"
    " WHERE w.{column} IS NOT NULL"
)

# One identifier's entry for the item's channel or all: one descent of the
# (tenant, identifier_hash, channel) index per identifier, the channel a filter
# (`IN (a, b)` on both would be four descents per person).
_LISTED = ("EXISTS (SELECT 1 FROM suppression x WHERE x.tenant_id = {{tenant}}"
           " AND x.identifier_hash = {identifier} AND (x.channel = f.channel OR x.channel = 'all'))")

_ANSWER = (
    " SELECT f.i, p.id IS NOT NULL AS known, f.contact_id IS NOT NULL AS found,"
    " CASE WHEN f.channel = 'phone' THEN f.contact_id END AS contact_id,"
    " CASE WHEN f.channel = 'phone' THEN f.phone END AS phone,"
    " f.restricted_at IS NOT NULL AS restricted, s.status, s.since, s.expires_at, s.event_id,"
    " CASE WHEN f.channel = 'email' AND s.status = 'granted' AND "
    + tracking.offered_sql("{tenant}") + " THEN "
    + tracking.granted_sql("{tenant}", "f.contact_id", now="{now}") + " ELSE FALSE END AS tracking,"
    # The list's probe per person (about 2.5 us each) only where the tenant has a list
    # at all: the first EXISTS names no row, so it is evaluated once per statement.
    " CASE WHEN EXISTS (SELECT 1 FROM suppression y WHERE y.tenant_id = {tenant}) THEN"
    " (" + _LISTED.format(identifier="f.email_hash") + " OR (f.phone_hash IS NOT NULL AND "
    + _LISTED.format(identifier="f.phone_hash") + ")) ELSE FALSE END AS suppressed"
    " FROM found f"
    " LEFT JOIN purpose p ON p.tenant_id = {tenant} AND p.key = f.purpose"
    " LEFT JOIN consent_state s ON s.tenant_id = {tenant} AND s.contact_id = f.contact_id"
    "  AND s.purpose_id = p.id AND s.channel = f.channel"
)


@lru_cache(maxsize=64)
def check_many_sql(engine_type: str, kinds: tuple[str, ...], varying: tuple[str, ...]) -> str:
    """The statement for a batch whose items name the identifier kinds `kinds`
    (in KINDS order): one lookup branch, and on PostgreSQL one array, each.
    `varying`: which of channel and purpose differ between items; on
    PostgreSQL the others are one value, not an array (a batch usually asks
    one question of many people)."""
    if engine_type == "postgres":
        arrays = [f for f in ("channel", "purpose") if f in varying] + list(kinds)
        wanted = (
            "SELECT w.*" + "".join(f", {{{f}}}::text AS {f}" for f in ("channel", "purpose")
                                   if f not in varying)
            + " FROM unnest("
            + ", ".join(f"{{{a}}}::{_ARRAY_TYPE.get(a, 'text')}[]" for a in arrays)
            + ") WITH ORDINALITY AS w(" + ", ".join(arrays) + ", i)"
        )
    else:
        wanted = _WANTED_SQLITE
    found = " UNION ALL ".join(_FOUND_BY.format(column=k) for k in kinds)
    return "WITH wanted AS (" + wanted + "), found AS (" + found + ")" + _ANSWER


def outcome(row: Any, now: dt.datetime, channel: str, listed: bool = False) -> CheckOut:
    """The answer for one found row (single and batch check alike): allowed
    only when granted and unexpired, not suppressed, not restricted; e-mail
    tracking only where sending is allowed (consent.tracking). `listed`: the
    identifier asked is on the suppression list, for someone not in the base."""
    if not row["found"]:
        return CheckOut(allowed=False, status="none", suppressed=listed)
    suppressed = bool(row["suppressed"])
    if row["status"] is None:
        return CheckOut(allowed=False, status="none", suppressed=suppressed)
    status = states.effective_status(row["status"], row["expires_at"], now)
    restricted = bool(row["restricted"])  # GDPR Art. 18: kept, not used
    allowed = status == "granted" and not suppressed and not restricted
    return CheckOut(
        allowed=allowed, status=status,
        since=row["since"], event_id=row["event_id"], suppressed=suppressed,
        restricted=restricted,
        tracking_allowed=allowed and channel == "email" and bool(row["tracking"]),
    )


async def calling_rules(ctx: TenantContext, item: CheckItem, row: Any, now: dt.datetime,
                        out: CheckOut) -> CheckOut:
    """For an allowed phone call, the calling rules at the call's time
    (`item.at`, default now): a refusal says its `reason` (consent.calling)."""
    if out.allowed and item.channel == "phone":
        reason = await phone.calling_reason(ctx, row["contact_id"], row["phone"],
                                            item.at or now)
        if reason is not None:
            out.allowed, out.reason = False, reason
    return out


def _identifier(item: CheckItem, index: int) -> tuple[str, Any]:
    if item.phone is None and item.contact_id is None and item.email is not None:
        return "email", item.email  # the usual item, without building the list below
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
    """One statement for the items `asked` (index -> kind, looked-up value,
    item): their rows by index (`i` is the position among those asked)."""
    if not asked:
        return {}
    indexes = list(asked)
    present = {kind for kind, _, _ in asked.values()}
    kinds = tuple(k for k in KINDS if k in present)
    if db.is_postgres():
        named: dict[str, Any] = {
            k: [value if kind == k else None for kind, value, _ in asked.values()] for k in kinds}
        for field in ("channel", "purpose"):
            values = [getattr(item, field) for _, _, item in asked.values()]
            named[field] = values if values.count(values[0]) != len(values) else values[0]
        varying = tuple(f for f in ("channel", "purpose") if isinstance(named[f], list))
        found = await db.fetch(check_many_sql("postgres", kinds, varying),
                               tenant=ctx.tenant_id, now=now, **named)
    else:
        items = json.dumps([[v if k == "email" else None, v if k == "phone" else None,
                             None if k != "id" else str(v), item.channel, item.purpose]
                            for k, v, item in asked.values()])
        found = await db.fetch(check_many_sql("sqlite", kinds, ()), items=items,
                               tenant=ctx.tenant_id, now=now)
    return {indexes[row["i"] - 1]: row for row in found}


async def check_many(ctx: TenantContext, items: list[CheckItem]) -> list[CheckOut]:
    """Answers in the order asked. ASCII addresses are looked up in their
    trimmed lower-case form first (the stored normal form for ASCII, as the
    single check does); only those that find nobody are validated in full —
    a typo is a 422 naming its item — and asked again if their full form
    differs. An unknown purpose is a 422 naming its item."""
    db.require_tenant(ctx.tenant_id)
    now = dt.datetime.now(dt.timezone.utc)
    asked: dict[int, tuple[str, Any, CheckItem]] = {}
    for index, item in enumerate(items):
        column, value = _identifier(item, index)
        if item.at is not None and item.at.tzinfo is None:
            raise _at(index, invalid_field("at", "needs a time zone (RFC 3339, e.g. ...Z)"))
        if column == "email" and value.isascii():
            asked[index] = (column, value.strip().lower(), item)
        else:
            asked[index] = (column, _full_form(ctx, index, column, value), item)
    rows = await _run(ctx, asked, now)
    missing = [index for index, row in rows.items() if not row["found"]]  # one pass, then few
    again: dict[int, tuple[str, Any, CheckItem]] = {}
    for index in missing:
        column, value, item = asked[index]
        if column == "email" and item.email.isascii() and rows[index]["known"]:
            full = _full_form(ctx, index, column, item.email)
            if full != value:
                again[index] = (column, full, item)
    if again:
        rows.update(await _run(ctx, again, now))
        missing = [index for index in missing if not rows[index]["found"]]
    unknown = {index: ((again.get(index) or asked[index])[1], items[index].channel)
               for index in missing if asked[index][0] != "id"}
    listed = await suppression.which_are_listed(ctx, unknown)
    results: list[CheckOut] = []
    for index, item in enumerate(items):
        row: Optional[Any] = rows.get(index)
        if row is None or not row["known"]:
            raise _at(index, invalid_field("purpose", f"unknown purpose {item.purpose!r}"))
        out = outcome(row, now, item.channel, index in listed)
        if out.allowed and item.channel == "phone":
            out = await calling_rules(ctx, item, row, now, out)
        results.append(out)
    return results
