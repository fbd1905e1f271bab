"""How the consent domain announces a change, in the transaction of the change:
the change feed (consent.changes, `GET /v1/changes`) numbers it, then webhook
events are queued (delivery: messaging.webhooks via the outbox) carrying the
same `cursor`. Payloads carry ids, never an e-mail address or phone number:
integrators fetch what they are allowed to."""

from __future__ import annotations

import datetime as dt
import operator
import uuid
from typing import Any, NamedTuple, Optional

from consent import changes
from consent.ledger.chain import EVENT_COLUMNS
from consent.ledger.chain import canonical_time as rfc3339
from messaging import webhooks
from optinbase import db
from optinbase.cursors import encode_int
from optinbase.context import TenantContext


def _changed(event: dict[str, Any], purpose: str, status: Optional[str],
             cursor: Optional[str]) -> dict[str, Any]:
    return {
        "cursor": cursor, "event_id": str(event["id"]), "contact_id": str(event["contact_id"]),
        "channel": event["channel"], "purpose": purpose, "action": event["action"],
        "status": status, "method": event["method"],
        "collected_at": rfc3339(event["collected_at"]),
        "recorded_at": rfc3339(event["recorded_at"]),
    }


async def _purpose_keys(ctx: TenantContext, ids: Optional[dict[str, Any]] = None) -> dict[str, str]:
    """Purpose keys by id (as text): of `ids` (text → stored id), or all the tenant's."""
    where = "" if ids is None else " AND id IN (" + ", ".join(["{}"] * len(ids)) + ")"
    rows = await db.fetch("SELECT id, key FROM purpose WHERE tenant_id = {}" + where,
                          ctx.tenant_id, *(ids or {}).values())
    return {str(r["id"]): r["key"] for r in rows}


async def consent_changed(ctx: TenantContext, changed: list[tuple[dict[str, Any], str]],
                          first: Optional[int] = None) -> None:
    """After the ledger events of one change were projected onto consent_state
    (each with the state's status afterwards: a back-dated event may leave it
    unchanged). One event is one delivery, which goes with the person on
    erasure (contact_id); several (a preference-centre save, expiries, a
    withdrawal of everything) go as batched deliveries. Each is a change of
    the feed (`first`: the first of their numbers, when taken already)."""
    cursors = await changes.record(ctx, [changes.consent(e, status) for e, status in changed],
                                   first)
    endpoints = await webhooks.subscribers(ctx.tenant_id, "consent.changed") if changed else []
    if not endpoints:
        return
    keys = await _purpose_keys(ctx, {str(e["purpose_id"]): e["purpose_id"] for e, _ in changed})
    await webhooks.enqueue_many(ctx.tenant_id, endpoints, "consent.changed", [
        (_changed(event, keys[str(event["purpose_id"])], status, cursor), event["contact_id"])
        for (event, status), cursor in zip(changed, cursors)
    ])


class Listeners(NamedTuple):
    """Who hears of an import's grants (`import_listeners`): the tenant's
    endpoints subscribed to `consent.changed` and, when there are any, its
    purposes' keys by id (the events name a purpose by its key)."""

    endpoints: list[tuple[uuid.UUID, str]]
    purposes: dict[str, str]


async def import_listeners(ctx: TenantContext) -> Listeners:
    """Read by each chunk of an import before it locks the chain head: the
    chunk holds that lock until it commits, and every statement under it
    delays the tenant's other writers and the next chunk."""
    endpoints = await webhooks.subscribers(ctx.tenant_id, "consent.changed")
    return Listeners(endpoints, await _purpose_keys(ctx) if endpoints else {})


async def grants_imported(ctx: TenantContext, listeners: Listeners,
                          sealed: list[tuple[Any, ...]],
                          current: Optional[set[uuid.UUID]] = None,
                          first: Optional[int] = None, fed: bool = False) -> None:
    """The bulk form for imports (`sealed`: stored ledger rows, EVENT_COLUMNS
    order, all recorded at one time, the chunk's): one statement for the whole chunk,
    delivered in batches (a 20,000-row import is 40 POSTs per endpoint, not
    20,000). `status` is null: an imported grant older than a later
    withdrawal leaves the state as it was, and working that out per event
    would cost a query per row. The feed gets the events the states follow
    now (one read per 500 people), status `granted`: an event that changed
    no state is no change. `current`: the ids of those events, when the
    caller knows them (its state upsert returned them). `first`: the first
    of the feed's numbers, taken for them beforehand
    (chain.Chain.lock_taking; as many as there are `current` events).
    `fed`: the feed's rows went in with the events, numbered from `first`
    (changes.FED_WITH_EVENTS). `listeners`: `import_listeners`, read before
    the head's lock."""
    if not sealed:
        return
    if current is None:
        current = await changes.current_events(ctx, (row[_CONTACT] for row in sealed))
    winners = [row for row in sealed if row[_ID] in current]
    if first is not None and len(winners) != len(current):
        raise RuntimeError("numbers taken for other changes than the import's")
    recorded_at = sealed[0][_RECORDED]  # the feed's time, sent once: the events' own
    if any(row[_RECORDED] != recorded_at for row in winners):
        raise RuntimeError("an import's chunk records its events at one time")
    if not fed:
        first = await changes.imported(ctx, list(map(_FEED, winners)), recorded_at, first)
    elif first is None:
        raise RuntimeError("a feed written with the events is numbered beforehand")
    if not listeners.endpoints:
        return
    cursors = {row[_ID]: encode_int(first + n) for n, row in enumerate(winners)}
    keys = listeners.purposes
    events = [dict(zip(EVENT_COLUMNS, row)) for row in sealed]
    await webhooks.enqueue_many(ctx.tenant_id, listeners.endpoints, "consent.changed", [
        (_changed(e, keys[str(e["purpose_id"])], None, cursors.get(e["id"])),
         e["contact_id"]) for e in events
    ])


# Positions in a sealed ledger row (chain.EVENT_COLUMNS) of what the feed keeps.
_ID, _CONTACT, _RECORDED = map(EVENT_COLUMNS.index, ("id", "contact_id", "recorded_at"))
_FEED = operator.itemgetter(*(EVENT_COLUMNS.index(c) for c in (
    "id", "contact_id", "channel", "purpose_id")))


async def contact_erased(ctx: TenantContext, contact_id: uuid.UUID) -> None:
    """To be called by the erasure service after the contact is gone. Not tied
    to the contact (`contact_id` column left empty) so erasure keeps it: it is
    how integrators learn that they must erase the person too (and the
    feed's `erasure` change)."""
    now = dt.datetime.now(dt.timezone.utc)
    cursor = await changes.erased(ctx, contact_id, now)
    await webhooks.enqueue_event(
        ctx.tenant_id, "contact.erased",
        {"cursor": cursor, "contact_id": str(contact_id), "erased_at": rfc3339(now)},
    )


async def request_completed(
    ctx: TenantContext, request_id: uuid.UUID, kind: str, status: str
) -> None:
    """To be called when a data-subject request reaches its end (`status`:
    completed or rejected)."""
    await webhooks.enqueue_event(
        ctx.tenant_id, "request.completed",
        {"request_id": str(request_id), "kind": kind, "status": status,
         "completed_at": rfc3339(dt.datetime.now(dt.timezone.utc))},
    )
