"""The current state of each consent — one row per tenant × contact × channel ×
purpose — projected from the ledger. `record_events` is the one way a consent
change is written (API, pages, confirmations, imports' single events, expiries):
the ledger event first, then its projection, in the caller's transaction. The
state follows the event the person made last (by `collected_at`): recording an
old grant never overrides a later withdrawal."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Optional

from consent.ledger import chain, notify
from consent.requests import deadlines
from optinbase import db
from optinbase.context import TenantContext

STATUS_OF = {
    "requested": "pending",
    "granted": "granted",
    "confirmed": "granted",
    "withdrawn": "withdrawn",
    "refused": "refused",
    "expired": "expired",
}

_UPSERT_STATE = (
    "INSERT INTO consent_state (id, tenant_id, contact_id, channel, purpose_id, status, since,"
    " expires_at, event_id, updated_at) VALUES ({id}, {tenant}, {contact}, {channel}, {purpose},"
    " {status}, {since}, {expires}, {event}, {at})"
    " ON CONFLICT (tenant_id, contact_id, channel, purpose_id) DO UPDATE SET"
    " status = excluded.status, since = excluded.since, expires_at = excluded.expires_at,"
    " event_id = excluded.event_id, updated_at = excluded.updated_at, reminded_at = NULL"
    " WHERE consent_state.since <= excluded.since"
)
_TOUCH_CONTACT = (
    "UPDATE contact SET last_activity_at = {since} WHERE tenant_id = {tenant} AND id = {contact}"
    " AND (last_activity_at IS NULL OR last_activity_at < {since})"
)
_STATUS = (
    "SELECT status FROM consent_state WHERE tenant_id = {tenant} AND contact_id = {contact}"
    " AND channel = {channel} AND purpose_id = {purpose}"
)
# The three in one statement (PostgreSQL): the state upserted, the contact's
# last activity moved, and the status the state is left in — the upsert's own
# when it wrote the row, else (an event older than the state's) the stored
# one, which the statement's snapshot sees as it was, and it was not changed.
# Each consent change runs it while it holds the tenant's ledger head: one
# round trip there instead of three.
_PROJECT = (
    f"WITH state AS ({_UPSERT_STATE} RETURNING status), activity AS ({_TOUCH_CONTACT})"
    f" SELECT status FROM state UNION ALL {_STATUS} AND NOT EXISTS (SELECT FROM state)"
)


async def record_events(ctx: TenantContext, events: list[chain.NewEvent]) -> list[dict]:
    """Appends events to the ledger and projects each onto consent_state: the one
    way a consent change is written (API, pages, confirmations, expiries, SMS
    STOP). Returns the stored events; `record` gives their statuses too."""
    return (await record(ctx, events))[0]


async def record(ctx: TenantContext, events: list[chain.NewEvent],
                 ) -> tuple[list[dict], list[str]]:
    """`record_events`, returning the stored events and the status each
    leaves its state in. The statement locking the chain head takes the
    change feed's numbers for them too (one change per event: `project`)."""
    if not events:
        return [], []
    ledger = chain.Chain(ctx.tenant_id)
    first = await ledger.lock_taking(len(events))
    stored = await ledger.append(events)
    return stored, await project(ctx, stored, first)


async def project(ctx: TenantContext, events: list[dict[str, Any]],
                  first: Optional[int] = None) -> list[str]:
    """Projects stored ledger events onto consent_state and announces them as
    one change (webhooks: one delivery, or batches when there are several);
    returns each resulting status. `first`: the first of the change feed's
    numbers taken for them (chain.Chain.lock_taking), else taken here."""
    statuses = [await apply_to_state(ctx, event) for event in events]
    await notify.consent_changed(ctx, list(zip(events, statuses)), first)
    return statuses


async def apply_to_state(ctx: TenantContext, event: dict[str, Any]) -> str:
    """Projects one ledger event onto consent_state; returns the resulting
    status (announcing it is `project`'s)."""
    values = {
        "id": uuid.uuid4(), "tenant": ctx.tenant_id, "contact": event["contact_id"],
        "channel": event["channel"], "purpose": event["purpose_id"],
        "status": STATUS_OF[event["action"]], "since": event["collected_at"],
        "expires": await valid_until(ctx, event), "event": event["id"],
        "at": event["recorded_at"],
    }
    if db.is_postgres() and not db.is_citus():  # (Citus: one statement a table, as SQLite)
        return await db.fetchval(_PROJECT, **values)
    await db.execute(_UPSERT_STATE, **values)
    await db.execute(_TOUCH_CONTACT, **values)
    return await db.fetchval(_STATUS, **values)


async def valid_until(ctx: TenantContext, event: dict[str, Any]) -> Optional[dt.datetime]:
    """When a grant lapses: its purpose's `validity_months` after the person
    acted (consent.expiry); None for other events and purposes without one."""
    if STATUS_OF[event["action"]] != "granted":
        return None
    months = await db.fetchval("SELECT validity_months FROM purpose WHERE tenant_id = {}"
                               " AND id = {}", ctx.tenant_id, event["purpose_id"])
    return deadlines.add_months(event["collected_at"], int(months)) if months else None


def effective_status(status: str, expires_at: Optional[dt.datetime], now: dt.datetime) -> str:
    """A grant past its `expires_at` reads as expired before any worker writes so."""
    if status == "granted" and expires_at is not None and expires_at <= now:
        return "expired"
    return status
