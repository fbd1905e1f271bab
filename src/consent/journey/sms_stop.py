"""SMS STOP: a provider forwards the person's reply; a stop word withdraws
every `sms` consent that person still has, each a ledger event with method
`sms_stop` (withdrawal as easy as giving: no confirmation, no login)."""

from __future__ import annotations

import datetime as dt
import unicodedata
from typing import Annotated, Optional

import msgspec
from msgspec import Meta

from consent.journey.channel_withdrawal import withdraw_channel
from consent.ledger import chain
from optinbase import db
from optinbase.context import TenantContext
from optinbase.errors import invalid_field
from optinbase.normalise import normalise_phone

# English carrier keywords (CTIA) and the French ARRET/ARRÊT; compared without
# case, accents, surrounding blanks or trailing punctuation.
STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "ARRET"})


class InboundSmsIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    from_: Annotated[str, Meta(min_length=1, max_length=32)] = msgspec.field(name="from")
    text: Annotated[str, Meta(max_length=1600)]
    received_at: Optional[dt.datetime] = None


class InboundSmsOut(msgspec.Struct, kw_only=True):
    stop: bool
    withdrawn: int


def is_stop(text: str) -> bool:
    word = unicodedata.normalize("NFKD", text.strip().rstrip(".!").strip())
    word = "".join(ch for ch in word if not unicodedata.combining(ch)).upper()
    return word in STOP_WORDS


async def receive(ctx: TenantContext, data: InboundSmsIn) -> InboundSmsOut:

    db.require_tenant(ctx.tenant_id)
    now = dt.datetime.now(dt.timezone.utc)
    received = data.received_at or now
    problem = chain.acted_at_problem(received, now)
    if problem:
        raise invalid_field("received_at", problem)
    if not is_stop(data.text):
        return InboundSmsOut(stop=False, withdrawn=0)
    phone = normalise_phone(data.from_, ctx.country, field="from")
    row = await db.fetchrow(
        "SELECT id FROM contact WHERE tenant_id = {} AND phone = {}", ctx.tenant_id, phone
    )
    if row is None:
        return InboundSmsOut(stop=True, withdrawn=0)
    withdrawn = await withdraw_channel(ctx, row["id"], "sms", method="sms_stop",
                                       source="SMS reply", collected_at=received)
    return InboundSmsOut(stop=True, withdrawn=withdrawn)
