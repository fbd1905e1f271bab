"""What a provider's event does to the tenant's base, once.

* hard bounce → the address on the suppression list for e-mail (`bounce`);
* complaint → every e-mail consent withdrawn (ledger events, method
  `esp_complaint`) and the address suppressed for e-mail (`complaint`);
* the provider's unsubscribe → every e-mail consent withdrawn
  (`esp_unsubscribe`);
* soft bounce → counted; the tenant's `soft_bounce_limit` (3) within
  `soft_bounce_days` (30) suppresses the address (`bounce`).

Each event is recorded in `inbound_event`, unique per endpoint and the
provider's event id (SHA-256 of it: no address is kept): a retried or replayed delivery finds it and changes
nothing. An address nobody in the base has is ignored (no contact is made
from a provider's event). All events of one request run in the request's
transaction: the batch goes in whole or not at all. Every action is audited.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from typing import Any, Optional

import msgspec

from consent import suppression
from consent.journey.channel_withdrawal import withdraw_channel
from consent.ledger.chain import CLOCK_SKEW
from consent.schemas import SuppressionIn
from messaging.inbound.providers import ProviderEvent
from optinbase import audit, db
from optinbase.context import TenantContext
from optinbase.errors import Invalid
from optinbase.normalise import normalise_email
from tenants.repository import TenantRecord

SOFT_BOUNCE_LIMIT = 3
SOFT_BOUNCE_DAYS = 30


class Summary(msgspec.Struct, kw_only=True):
    """The answer to the provider (which only needs a 2xx) and to tests."""

    received: int = 0
    duplicates: int = 0
    ignored: int = 0  # unknown address, or an event that needs nothing
    suppressed: int = 0
    withdrawn: int = 0
    soft_bounces: int = 0


async def _contact(ctx: TenantContext, email: Optional[str]) -> tuple[Optional[uuid.UUID], str]:
    """The contact with this address (normalised as the base stores it) and
    the address; (None, "") for nobody or for what is not an address."""
    if not email:
        return None, ""
    try:
        address = normalise_email(email)
    except Invalid:
        return None, ""
    found = await db.fetchval("SELECT id FROM contact WHERE tenant_id = {} AND email = {}",
                              ctx.tenant_id, address)
    return found, address


async def _seen(ctx: TenantContext, endpoint_id: uuid.UUID, key: str) -> bool:
    return await db.fetchval(
        "SELECT 1 FROM inbound_event WHERE tenant_id = {} AND endpoint_id = {} AND event_key = {}",
        ctx.tenant_id, endpoint_id, key) is not None


async def _soft_bounces(ctx: TenantContext, contact_id: uuid.UUID, since: dt.datetime) -> int:
    return int(await db.fetchval(
        "SELECT count(*) FROM inbound_event WHERE tenant_id = {} AND contact_id = {}"
        " AND kind = 'soft_bounce' AND received_at >= {}", ctx.tenant_id, contact_id, since))


def _limits(tenant: TenantRecord) -> tuple[int, dt.timedelta]:
    settings = tenant.settings or {}
    return (int(settings.get("soft_bounce_limit") or SOFT_BOUNCE_LIMIT),
            dt.timedelta(days=int(settings.get("soft_bounce_days") or SOFT_BOUNCE_DAYS)))


async def _suppress(ctx: TenantContext, address: str, reason: str) -> None:
    await suppression.add(ctx, SuppressionIn(reason=reason, email=address, channel="email"))


_OUTCOMES = {"hard_bounce": "suppressed", "complaint": "withdrawn_suppressed",
             "unsubscribe": "withdrawn"}


async def _outcome(ctx: TenantContext, tenant: TenantRecord, event: ProviderEvent,
                   contact_id: uuid.UUID, now: dt.datetime) -> str:
    """What the event will do, decided before anything is written: a soft
    bounce suppresses when it reaches the tenant's limit within its window."""
    if event.kind != "soft_bounce":
        return _OUTCOMES[event.kind]
    limit, window = _limits(tenant)
    counted = await _soft_bounces(ctx, contact_id, now - window)
    return "counted_suppressed" if counted + 1 >= limit else "counted"


async def _act(ctx: TenantContext, provider: str, event: ProviderEvent, outcome: str,
               contact_id: uuid.UUID, address: str, now: dt.datetime, summary: Summary) -> None:
    """Carries the event out. Last in the event's work: a suppression or a
    withdrawal takes the tenant's change-feed lock (consent.changes), held
    until commit, so the less that follows it the less others wait."""
    summary.soft_bounces += event.kind == "soft_bounce"
    if event.kind in ("complaint", "unsubscribe"):
        method = "esp_complaint" if event.kind == "complaint" else "esp_unsubscribe"
        summary.withdrawn += await withdraw_channel(
            ctx, contact_id, "email", method=method,
            source=f"{provider} {event.kind.replace('_', ' ')}",
            collected_at=min(event.at, now + CLOCK_SKEW))
    if outcome.endswith("suppressed"):
        reason = "complaint" if event.kind == "complaint" else "bounce"
        await suppression.add(ctx, SuppressionIn(reason=reason, email=address, channel="email"))
        summary.suppressed += 1


async def handle(ctx: TenantContext, tenant: TenantRecord, endpoint: Any,
                 events: list[ProviderEvent]) -> Summary:
    db.require_tenant(ctx.tenant_id)
    endpoint_id, provider = endpoint["id"], endpoint["provider"]
    now = dt.datetime.now(dt.timezone.utc)
    summary = Summary(received=len(events))
    keys: set[str] = set()
    actions = []
    for event in events:
        if event.kind == "other":  # deliveries, opens...: nothing to do, nothing to keep
            summary.ignored += 1
            continue
        # Hashed: a provider's id may hold the address (SES's does), and the
        # events of unknown addresses are kept too.
        key = hashlib.sha256(event.key.encode()).hexdigest()
        if key in keys or await _seen(ctx, endpoint_id, key):
            summary.duplicates += 1
            continue
        keys.add(key)
        contact_id, address = await _contact(ctx, event.email)
        if contact_id is None:
            summary.ignored += 1
            outcome = "ignored"
        else:
            outcome = await _outcome(ctx, tenant, event, contact_id, now)
            await audit.record(ctx, f"inbound.{event.kind}", "contact", contact_id,
                               {"provider": provider, "outcome": outcome,
                                "endpoint_id": str(endpoint_id)})
            actions.append((event, outcome, contact_id, address))
        await db.execute(
            "INSERT INTO inbound_event (id, tenant_id, endpoint_id, event_key, kind, contact_id,"
            " outcome, received_at) VALUES ({}, {}, {}, {}, {}, {}, {}, {})",
            uuid.uuid4(), ctx.tenant_id, endpoint_id, key, event.kind, contact_id, outcome, now)
    for event, outcome, contact_id, address in actions:
        await _act(ctx, provider, event, outcome, contact_id, address, now, summary)
    return summary


async def forget_contact(ctx: TenantContext, contact_id: uuid.UUID) -> None:
    """Erasure: the person's handled events go (their ids would link them)."""
    await db.execute("DELETE FROM inbound_event WHERE tenant_id = {} AND contact_id = {}",
                     ctx.tenant_id, contact_id)
