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
    " expires_at, event_id, updated_at) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {})"
    " ON CONFLICT (tenant_id, contact_id, channel, purpose_id) DO UPDATE SET"
    " status = excluded.status, since = excluded.since, expires_at = excluded.expires_at,"
    " event_id = excluded.event_id, updated_at = excluded.updated_at, reminded_at = NULL"
    " WHERE consent_state.since <= excluded.since"
)


async def record_events(ctx: TenantContext, events: list[chain.NewEvent]) -> list[dict]:
    """Appends events to the ledger and projects each onto consent_state: the one
    way a consent change is written (API, pages, confirmations, expiries)."""
    stored = await chain.append(events)
    await project(ctx, stored)
    return stored


async def project(ctx: TenantContext, events: list[dict[str, Any]]) -> list[str]:
    """Projects stored ledger events onto consent_state and announces them as
    one change (webhooks: one delivery, or batches when there are several);
    returns each resulting status."""
    statuses = [await apply_to_state(ctx, event, announce=False) for event in events]
    await notify.consent_changed(ctx, list(zip(events, statuses)))
    return statuses


async def apply_to_state(ctx: TenantContext, event: dict[str, Any], *, announce: bool = True) -> str:
    """Projects one ledger event onto consent_state; returns the resulting
    status. `announce=False` leaves the webhook to the caller (`project`)."""
    await db.execute(
        _UPSERT_STATE,
        uuid.uuid4(), ctx.tenant_id, event["contact_id"], event["channel"],
        event["purpose_id"], STATUS_OF[event["action"]], event["collected_at"],
        await valid_until(ctx, event), event["id"], event["recorded_at"],
    )
    await db.execute(
        "UPDATE contact SET last_activity_at = {} WHERE tenant_id = {} AND id = {}"
        " AND (last_activity_at IS NULL OR last_activity_at < {})",
        event["collected_at"], ctx.tenant_id, event["contact_id"], event["collected_at"],
    )
    status = await db.fetchval(
        "SELECT status FROM consent_state WHERE tenant_id = {} AND contact_id = {}"
        " AND channel = {} AND purpose_id = {}",
        ctx.tenant_id, event["contact_id"], event["channel"], event["purpose_id"],
    )
    if announce:
        await notify.consent_changed(ctx, [(event, status)])
    return status


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
