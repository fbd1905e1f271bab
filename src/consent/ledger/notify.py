"""Webhook events of the consent domain, queued in the transaction of the change
(delivery: messaging.webhooks via the outbox). Payloads carry ids, never an
e-mail address or phone number: integrators fetch what they are allowed to."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Optional

from consent.ledger.chain import EVENT_COLUMNS
from consent.ledger.chain import canonical_time as rfc3339
from messaging import webhooks
from optinbase import db
from optinbase.context import TenantContext


def _changed(event: dict[str, Any], purpose: str, status: Optional[str]) -> dict[str, Any]:
    return {
        "event_id": str(event["id"]), "contact_id": str(event["contact_id"]),
        "channel": event["channel"], "purpose": purpose, "action": event["action"],
        "status": status, "method": event["method"],
        "collected_at": rfc3339(event["collected_at"]),
        "recorded_at": rfc3339(event["recorded_at"]),
    }


async def consent_changed(ctx: TenantContext, event: dict[str, Any], status: str) -> None:
    """After a ledger event was projected onto consent_state (`status` is the
    state's status afterwards: a back-dated event may leave it unchanged).
    Pending deliveries about a person go with them on erasure (contact_id)."""
    endpoints = await webhooks.subscribers(ctx.tenant_id, "consent.changed")
    if not endpoints:
        return
    purpose = await db.fetchval(
        "SELECT key FROM purpose WHERE tenant_id = {} AND id = {}",
        ctx.tenant_id, event["purpose_id"],
    )
    await webhooks.enqueue(ctx.tenant_id, endpoints, "consent.changed",
                           _changed(event, purpose, status), contact_id=event["contact_id"])


async def grants_imported(ctx: TenantContext, sealed: list[tuple[Any, ...]]) -> None:
    """The bulk form for imports (`sealed`: stored ledger rows, EVENT_COLUMNS
    order): one statement for the whole chunk. `status` is null: an imported
    grant older than a later withdrawal leaves the state as it was, and working
    that out per event would cost a query per row."""
    endpoints = await webhooks.subscribers(ctx.tenant_id, "consent.changed") if sealed else []
    if not endpoints:
        return
    keys = {str(r["id"]): r["key"] for r in await db.fetch(
        "SELECT id, key FROM purpose WHERE tenant_id = {}", ctx.tenant_id)}
    events = [dict(zip(EVENT_COLUMNS, row)) for row in sealed]
    await webhooks.enqueue_many(ctx.tenant_id, endpoints, "consent.changed", [
        (_changed(e, keys[str(e["purpose_id"])], None), e["contact_id"]) for e in events
    ])


async def contact_erased(ctx: TenantContext, contact_id: uuid.UUID) -> None:
    """To be called by the erasure service after the contact is gone. Not tied
    to the contact (`contact_id` column left empty) so erasure keeps it: it is
    how integrators learn that they must erase the person too."""
    await webhooks.enqueue_event(
        ctx.tenant_id, "contact.erased",
        {"contact_id": str(contact_id),
         "erased_at": rfc3339(dt.datetime.now(dt.timezone.utc))},
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
