"""The change feed (`GET /v1/changes`): every consent state change,
suppression and erasure of a tenant, in commit order, so that a campaign tool
keeps an exact copy by polling with the last cursor it read (the way payment
APIs expose their event lists). Webhooks carry the same cursor
(consent.ledger.notify).

Commit order, not id or clock order: numbers are taken by an UPDATE of the
tenant's `ledger_head` row (`change_seq`), whose lock is held until the
transaction ends — the lock every ledger append already takes. A transaction
that takes numbers after another waits for it to commit, so a reader never
sees change n+1 before change n, and a consumer that saw cursor n never
misses a change numbered below it. SQLite's single writer gives the same.

Erasure deletes the person's earlier changes (the feed holds no history of
someone erased) and adds one `erasure` change: the id a copy must forget.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Iterable, Optional

import msgspec

from consent.ledger import chain
from optinbase import bulk, db
from optinbase.context import TenantContext
from optinbase.cursors import decode_int, encode_int
from optinbase.ids import uuid7s

KINDS = ("consent", "suppression", "unsuppression", "erasure")


class Change(msgspec.Struct, kw_only=True):
    """One change as the services describe it; the feed numbers it."""

    kind: str  # one of KINDS
    at: dt.datetime
    contact_id: Optional[uuid.UUID] = None
    channel: Optional[str] = None
    purpose_id: Optional[uuid.UUID] = None
    status: Optional[str] = None
    reason: Optional[str] = None
    event_id: Optional[uuid.UUID] = None


class ChangeOut(msgspec.Struct, kw_only=True, omit_defaults=True):
    cursor: str
    kind: str
    contact_id: Optional[uuid.UUID]
    at: dt.datetime
    channel: Optional[str] = None
    purpose: Optional[str] = None
    status: Optional[str] = None
    reason: Optional[str] = None
    event_id: Optional[uuid.UUID] = None


class ChangePage(msgspec.Struct, kw_only=True):
    """`next_cursor` is where to resume (the last item's cursor, or the one
    given when nothing is new): a consumer keeps it and polls with it."""

    items: list[ChangeOut]
    next_cursor: Optional[str]
    has_more: bool


def consent(event: dict[str, Any], status: Optional[str]) -> Change:
    """The change of a ledger event projected onto a consent state."""
    return Change(kind="consent", at=event["recorded_at"], contact_id=event["contact_id"],
                  channel=event["channel"], purpose_id=event["purpose_id"], status=status,
                  event_id=event["id"])


COLUMNS = ("id", "tenant_id", "seq", "kind", "contact_id", "channel", "purpose_id", "status",
            "reason", "event_id", "at")
_INSERT = (f"INSERT INTO change_log ({', '.join(COLUMNS)})"
           f" VALUES ({', '.join(['{}'] * len(COLUMNS))})")


# Fresh ids (bulk.new_rows: routed on Citus by a conflict clause).
_bulk_insert = bulk.inserting("change_log", COLUMNS)


# PostgreSQL: many changes in one statement (optinbase.bulk) rather than one
# execution each — a withdrawal of everything, an expiry run.
_INSERT_BULK = bulk.Insert(COLUMNS, {"tenant_id": "{}"}, _bulk_insert, fresh=True)
# An import's chunk numbers thousands of grants under the head's lock (`imported`).
_IMPORTED = bulk.Insert(COLUMNS, {
    "tenant_id": "{}", "kind": "'consent'", "status": "'granted'", "reason": "NULL::text",
    "at": "{}",
}, _bulk_insert, fresh=True)
# The same changes written by the statement that inserts their events, on
# PostgreSQL (consent.imports.write, a chunk of new people): a data-modifying
# CTE over `r`, the events' rows (chain.EVENT_COLUMNS) each with `feed_id` and
# `place` (`placed`; null for an event no state follows). The contact,
# channel, purpose, event id and time are the events' own, so per change only
# its id and place travel, and no round trip of its own is made under the
# head's lock. Arguments: the tenant, the first number (taken with the lock).
FED_WITH_EVENTS = (
    f"feed AS (INSERT INTO change_log ({', '.join(COLUMNS)})"
    " SELECT r.feed_id, {}, {}::bigint + r.place, 'consent', r.contact_id, r.channel,"
    " r.purpose_id, 'granted', NULL, r.id, r.recorded_at FROM r WHERE r.feed_id IS NOT NULL)"
)
_TAKE = ("UPDATE ledger_head SET change_seq = change_seq + {} WHERE tenant_id = {}"
         " RETURNING change_seq")


def placed(event_ids: list[uuid.UUID], current: set[uuid.UUID],
           ) -> tuple[list[Optional[uuid.UUID]], list[Optional[int]]]:
    """For FED_WITH_EVENTS, beside each of `event_ids` (in ledger order): its
    change's new id and place among the numbers taken (the nth event that
    `current` holds takes the nth, as `imported` numbers them), or None twice
    for an event that leads no state."""
    ids = iter(uuid7s(len(current)))
    feed_ids: list[Optional[uuid.UUID]] = []
    places: list[Optional[int]] = []
    place = 0
    for event_id in event_ids:
        if event_id in current:
            feed_ids.append(next(ids))
            places.append(place)
            place += 1
        else:
            feed_ids.append(None)
            places.append(None)
    if place != len(current):
        raise RuntimeError("a change for an event the chunk does not insert")
    return feed_ids, places


async def _take(tenant_id: uuid.UUID, count: int) -> int:
    """The first of `count` new numbers; the head row stays locked until commit."""
    last = await db.fetchval(_TAKE, count, tenant_id)
    if last is None:
        await chain.ensure_head(tenant_id)
        last = await db.fetchval(_TAKE, count, tenant_id)
    return int(last) - count + 1


async def _numbers(ctx: TenantContext, count: int, first: Optional[int]) -> int:
    """The first of `count` numbers for the tenant's changes: `first` when
    taken already (chain.Chain.lock_taking), else taken now."""
    db.require_tenant(ctx.tenant_id)
    return first if first is not None else await _take(ctx.tenant_id, count)


async def _insert(ctx: TenantContext, values: list[tuple[Any, ...]],
                  first: Optional[int] = None) -> int:
    """Numbers rows of (kind, contact_id, channel, purpose_id, status, reason,
    event_id, at), in order, and returns the first number. `first`: the first
    of numbers already taken for them (chain.Chain.lock_taking)."""
    if not values:
        return first or 0
    first = await _numbers(ctx, len(values), first)
    ids = uuid7s(len(values))
    tenant_id = ctx.tenant_id
    rows = [(ids[i], tenant_id, first + i, *v) for i, v in enumerate(values)]
    if db.is_postgres():
        await db.execute(*_INSERT_BULK.call(rows, tenant_id))
    else:
        await db.executemany(_INSERT, rows)
    return first


async def record(ctx: TenantContext, changes: list[Change],
                 first: Optional[int] = None) -> list[str]:
    """Numbers `changes` (in order) in the caller's transaction and returns
    their cursors. `first`: as `_insert`."""
    first = await _insert(ctx, [(c.kind, c.contact_id, c.channel, c.purpose_id, c.status,
                                 c.reason, c.event_id, c.at) for c in changes], first)
    return [encode_int(first + i) for i in range(len(changes))]


async def imported(ctx: TenantContext, events: list[tuple[Any, ...]], at: dt.datetime,
                   first: Optional[int] = None) -> int:
    """The bulk form for an import's granted events, given as (event_id,
    contact_id, channel, purpose_id), all recorded at `at`: no object per
    row. Returns the first of their numbers (`first`: as `_insert`); the nth
    event's cursor is `encode_int(first + n)`. On PostgreSQL what every row
    shares (kind, status, reason, time) goes once, as the statement's
    constants (_IMPORTED): the statement runs under the ledger head's lock,
    and each value sent per row was one more to encode and decode there."""
    if not db.is_postgres():
        return await _insert(ctx, [("consent", contact, channel, purpose, "granted", None, event, at)
                                   for event, contact, channel, purpose in events], first)
    if not events:
        return first or 0
    first = await _numbers(ctx, len(events), first)
    event_ids, contacts, channels, purposes = map(list, zip(*events))
    await db.execute(*_IMPORTED.call_columns([
        uuid7s(len(events)), list(range(first, first + len(events))), contacts, channels,
        purposes, event_ids], ctx.tenant_id, at))
    return first


async def erased(ctx: TenantContext, contact_id: uuid.UUID, at: dt.datetime) -> str:
    """The person's earlier changes go; one change says the id was erased."""
    await db.execute("DELETE FROM change_log WHERE tenant_id = {} AND contact_id = {}",
                     ctx.tenant_id, contact_id)
    [cursor] = await record(ctx, [Change(kind="erasure", at=at, contact_id=contact_id)])
    return cursor


_CHUNK = 500


async def current_events(ctx: TenantContext, contact_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    """Ids of the ledger events the states of these contacts follow now:
    which of an import's events changed a state (a back-dated one may not).
    Read by contact, the states' own index (PostgreSQL: one array; SQLite: in
    chunks of bound values)."""
    ids = list(dict.fromkeys(contact_ids))
    current: set[uuid.UUID] = set()
    if db.is_postgres():  # one statement, the ids as one array
        rows = await db.fetch("SELECT event_id FROM consent_state WHERE tenant_id = {}"
                              " AND contact_id = ANY({}::uuid[])", ctx.tenant_id, ids)
        return {r["event_id"] for r in rows}
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start:start + _CHUNK]
        rows = await db.fetch(
            "SELECT event_id FROM consent_state WHERE tenant_id = {} AND contact_id IN ("
            + ", ".join(["{}"] * len(chunk)) + ")", ctx.tenant_id, *chunk)
        current.update(r["event_id"] for r in rows)
    return current


_PAGE = (
    "SELECT c.seq, c.kind, c.contact_id, c.channel, p.key AS purpose, c.status, c.reason,"
    " c.event_id, c.at FROM change_log c"
    " LEFT JOIN purpose p ON p.tenant_id = c.tenant_id AND p.id = c.purpose_id"
    " WHERE c.tenant_id = {} AND c.seq > {} ORDER BY c.seq LIMIT {}"
)


async def page(ctx: TenantContext, after: Optional[str], limit: int) -> ChangePage:
    """Changes after the cursor `after` (from the first when None), oldest first."""
    db.require_tenant(ctx.tenant_id)
    since = decode_int(after) if after else 0
    rows = await db.fetch(_PAGE, ctx.tenant_id, since, limit + 1)
    items = [ChangeOut(
        cursor=encode_int(int(r["seq"])), kind=r["kind"], contact_id=r["contact_id"],
        at=r["at"], channel=r["channel"], purpose=r["purpose"], status=r["status"],
        reason=r["reason"], event_id=r["event_id"],
    ) for r in rows[:limit]]
    return ChangePage(items=items, next_cursor=items[-1].cursor if items else after,
                      has_more=len(rows) > limit)
