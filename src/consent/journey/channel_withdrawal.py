"""Withdrawing everything a person still has on one channel — an SMS STOP
reply, an e-mail provider's complaint or unsubscribe: one ledger event per
live consent (method saying where the withdrawal came from), projected and
announced as one change. No confirmation, no login: withdrawal is as easy as
giving."""

from __future__ import annotations

import datetime as dt
import uuid

from consent.ledger import chain, states
from optinbase import db
from optinbase.context import TenantContext

_LIVE_STATES = (
    "SELECT purpose_id FROM consent_state WHERE tenant_id = {} AND contact_id = {}"
    " AND channel = {} AND status NOT IN ('withdrawn', 'refused') ORDER BY purpose_id"
)


async def withdraw_channel(ctx: TenantContext, contact_id: uuid.UUID, channel: str, *,
                           method: str, source: str, collected_at: dt.datetime) -> int:
    """How many consents the withdrawal left withdrawn (an event older than a
    later grant is in the ledger but does not override it)."""
    now = dt.datetime.now(dt.timezone.utc)
    purposes = [r["purpose_id"] for r in await db.fetch(
        _LIVE_STATES, ctx.tenant_id, contact_id, channel)]
    _, statuses = await states.record(ctx, [
        chain.NewEvent(
            tenant_id=ctx.tenant_id, contact_id=contact_id, channel=channel, purpose_id=purpose,
            action="withdrawn", method=method, collected_at=collected_at, recorded_at=now,
            source=source, actor=ctx.actor,
        )
        for purpose in purposes
    ])
    return statuses.count("withdrawn")
