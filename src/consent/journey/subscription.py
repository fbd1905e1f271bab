"""The hosted subscribe form and the preference centre: what is offered, and
what a person's submission records.

Offers come from the tenant's notices: for each live purpose, its newest
notice (in the page's language when one exists), one box per channel that
notice covers — shown with the notice text verbatim, never pre-checked.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Optional

import msgspec

from consent import contacts, suppression
from consent import gpc as gpc_rules
from consent.journey import double_opt_in
from consent.ledger import chain, states
from consent.schemas import ContactIn
from optinbase import db
from optinbase.context import TenantContext
from optinbase.errors import NotFound, invalid_field
from optinbase.i18n import N_
from optinbase.settings import get_settings
from tenants.repository import TenantRecord


class Offer(msgspec.Struct, kw_only=True):
    purpose: str
    purpose_name: str
    description: str
    notice_id: uuid.UUID
    notice_text: str
    notice_language: str
    channels: list[str]


_OFFERS = (
    "SELECT p.key, p.name, p.description, n.id AS notice_id, n.channels, n.text, n.language,"
    " n.version FROM purpose p"
    " JOIN notice n ON n.tenant_id = p.tenant_id AND n.purpose_id = p.id"
    " WHERE p.tenant_id = {} AND NOT p.retired ORDER BY p.key, n.version DESC"
)


async def offers(ctx: TenantContext, language: str) -> list[Offer]:
    chosen: dict[str, Any] = {}
    for row in await db.fetch(_OFFERS, ctx.tenant_id):
        current = chosen.get(row["key"])
        same_language = row["language"].split("-")[0] == language
        if current is None or (same_language and current["language"].split("-")[0] != language):
            chosen[row["key"]] = row
    return [
        Offer(purpose=r["key"], purpose_name=r["name"], description=r["description"],
              notice_id=r["notice_id"], notice_text=r["text"],
              notice_language=r["language"],
              channels=r["channels"])
        for r in chosen.values()
    ]


class Choice(msgspec.Struct, forbid_unknown_fields=True):
    channel: str
    purpose: str
    notice_id: uuid.UUID


class SubscribeIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    email: str
    consents: list[Choice]
    phone: Optional[str] = None
    locale: Optional[str] = None


async def subscribe(
    ctx: TenantContext, tenant: TenantRecord, data: SubscribeIn, *, ip: Optional[str],
    user_agent: Optional[str], source: str, gpc: bool,
) -> int:
    """Records `requested` consents (one confirmation e-mail covers them all) and,
    with Sec-GPC: 1, a refusal of social ads. Returns how many were requested.
    The answer page is the same whether or not the person was known or listed,
    so the form reveals nothing about the base."""

    if not data.consents:
        raise invalid_field("consents", "choose at least one box", N_("form.choose_a_box"))
    available = {(o.purpose, c): o for o in await offers(ctx, "") for c in o.channels}
    wanted = []
    for index, choice in enumerate(data.consents):
        offer = available.get((choice.purpose, choice.channel))
        if offer is None or offer.notice_id != choice.notice_id:
            raise invalid_field(f"consents[{index}]", "this box is not offered by the form",
                                N_("form.box_not_offered"))
        wanted.append((choice, offer))
    values = contacts.normalised(ctx, {"email": data.email, "phone": data.phone})
    contact_id = await contacts.find_by_identifiers(ctx, values)
    if contact_id is None:
        created = await contacts.create_contact(
            ctx, ContactIn(email=values["email"], phone=values["phone"], locale=data.locale,
                           source=source))
        contact_id = created.id
    contact = await contacts.find_contact(ctx, contact_id)
    purposes = {r["key"]: r for r in await db.fetch(
        "SELECT id, key, name FROM purpose WHERE tenant_id = {}", ctx.tenant_id)}
    now = dt.datetime.now(dt.timezone.utc)
    new_events = []
    sharing = await gpc_rules.partner_purposes(ctx) if gpc else set()
    for choice, offer in wanted:
        if gpc and gpc_rules.refuses(choice.channel, choice.purpose, sharing):
            # The browser's Global Privacy Control outranks the box (consent.gpc).
            if choice.channel not in gpc_rules.SHARING_CHANNELS:
                new_events.append(chain.NewEvent(
                    tenant_id=ctx.tenant_id, contact_id=contact_id, channel=choice.channel,
                    purpose_id=purposes[choice.purpose]["id"], action="refused",
                    method="web_form", collected_at=now, recorded_at=now,
                    notice_id=offer.notice_id, source=gpc_rules.SOURCE, actor="subject", ip=ip,
                    user_agent=user_agent))
            continue
        if await suppression.is_suppressed(ctx, contact["email"], contact["phone"], choice.channel):
            continue
        new_events.append(chain.NewEvent(
            tenant_id=ctx.tenant_id, contact_id=contact_id, channel=choice.channel,
            purpose_id=purposes[choice.purpose]["id"], action="requested",
            method="web_form", collected_at=now, recorded_at=now, notice_id=offer.notice_id,
            source=source, actor="subject", ip=ip, user_agent=user_agent))
    if gpc:
        new_events += [chain.NewEvent(
            tenant_id=ctx.tenant_id, contact_id=contact_id, channel="social_ads",
            purpose_id=p["id"], action="refused", method="web_form",
            collected_at=now, recorded_at=now, source=gpc_rules.SOURCE, actor="subject", ip=ip,
            user_agent=user_agent) for p in purposes.values()]
    stored = await states.record_events(ctx, new_events)
    requested = [e for e in stored if e["action"] == "requested"]
    if requested:
        settings = get_settings()
        names = {p["id"]: p["name"] for p in purposes.values()}
        await double_opt_in.request_confirmation(
            ctx, tenant, contact, [(e, names[e["purpose_id"]]) for e in requested],
            secret_key=settings.secret_key, public_url=settings.public_url,
        )
    return len(requested)


async def find_contact_or_404(ctx: TenantContext, contact_id: uuid.UUID) -> Any:
    row = await contacts.find_contact(ctx, contact_id)
    if row is None:
        raise NotFound("this link is not valid", msgid=N_("error.link_invalid"))
    return row
