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
from consent.schemas import PHONE_CHANNELS, ContactIn
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


def _base(language: str) -> str:
    return language.split("-")[0]


async def current_offers(ctx: TenantContext) -> list[Offer]:
    """Each live purpose's newest notice in each language it was written in
    (newest first within a purpose): a form in any of those languages offers
    its own, and a submission may name any of them."""
    chosen: dict[tuple[str, str], Any] = {}
    for row in await db.fetch(_OFFERS, ctx.tenant_id):
        chosen.setdefault((row["key"], _base(row["language"])), row)
    return [
        Offer(purpose=r["key"], purpose_name=r["name"], description=r["description"],
              notice_id=r["notice_id"], notice_text=r["text"],
              notice_language=r["language"],
              channels=r["channels"])
        for r in chosen.values()
    ]


async def offers(ctx: TenantContext, language: str) -> list[Offer]:
    """One offer per purpose: its current notice in `language`, else its newest."""
    chosen: dict[str, Offer] = {}
    for offer in await current_offers(ctx):
        current = chosen.get(offer.purpose)
        if current is None or (_base(offer.notice_language) == language
                               and _base(current.notice_language) != language):
            chosen[offer.purpose] = offer
    return list(chosen.values())


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
    offered: Optional[dict[tuple[str, str], uuid.UUID]] = None, confirm: bool = True,
    profile: Optional[dict[str, Any]] = None,
) -> int:
    """Records `requested` consents (one confirmation e-mail covers them all) and,
    with Sec-GPC: 1, a refusal of social ads. Returns how many were requested.
    The answer page is the same whether or not the person was known or listed,
    so the form reveals nothing about the base.

    An embedded form (consent.forms) passes its own `offered` boxes (purpose,
    channel → notice), `confirm=False` when it is single opt-in (the consents
    are granted at once, no e-mail), and the `profile` fields a new contact
    is created with (a known person's record is never changed by a form)."""

    if not data.consents:
        raise invalid_field("consents", "choose at least one box", N_("form.choose_a_box"))
    source = chain.page_url(source)  # the page, never what its query string carried
    if offered is None:
        # Any language's current notice: the form in each language offers its own.
        allowed = {(o.purpose, c, o.notice_id) for o in await current_offers(ctx)
                   for c in o.channels}
    else:
        allowed = {(purpose, channel, notice) for (purpose, channel), notice in offered.items()}
    wanted = []
    for index, choice in enumerate(data.consents):
        if (choice.purpose, choice.channel, choice.notice_id) not in allowed:
            raise invalid_field(f"consents[{index}]", "this box is not offered by the form",
                                N_("form.box_not_offered"))
        wanted.append((choice, choice.notice_id))
    if not data.phone and any(c.channel in PHONE_CHANNELS for c, _ in wanted):
        raise invalid_field("phone", "an SMS or phone consent needs a phone number",
                            N_("form.phone_needed"))
    values = contacts.normalised(ctx, {"email": data.email, "phone": data.phone})
    contact_id = await contacts.find_by_identifiers(ctx, values)
    if contact_id is None:
        if await suppression.is_suppressed(ctx, values["email"], values["phone"], suppression.ALL):
            return 0  # listed for everything: nothing recorded, the same answer page
        created = await contacts.create_contact(
            ctx, ContactIn(email=values["email"], phone=values["phone"], locale=data.locale,
                           source=source, **(profile or {})))
        contact_id = created.id
    contact = await contacts.find_contact(ctx, contact_id)
    purposes = {r["key"]: r for r in await db.fetch(
        "SELECT id, key, name FROM purpose WHERE tenant_id = {}", ctx.tenant_id)}
    now = dt.datetime.now(dt.timezone.utc)
    new_events = []
    action = "requested" if confirm else "granted"
    sharing = await gpc_rules.partner_purposes(ctx) if gpc else set()
    for choice, notice_id in wanted:
        if gpc and gpc_rules.refuses(choice.channel, choice.purpose, sharing):
            # The browser's Global Privacy Control outranks the box (consent.gpc).
            if choice.channel not in gpc_rules.SHARING_CHANNELS:
                new_events.append(chain.NewEvent(
                    tenant_id=ctx.tenant_id, contact_id=contact_id, channel=choice.channel,
                    purpose_id=purposes[choice.purpose]["id"], action="refused",
                    method="web_form", collected_at=now, recorded_at=now, notice_id=notice_id,
                    source=gpc_rules.SOURCE, actor="subject", ip=ip, user_agent=user_agent))
            continue
        if await suppression.is_suppressed(ctx, contact["email"], contact["phone"], choice.channel):
            continue
        new_events.append(chain.NewEvent(
            tenant_id=ctx.tenant_id, contact_id=contact_id, channel=choice.channel,
            purpose_id=purposes[choice.purpose]["id"], action=action,
            method="web_form", collected_at=now, recorded_at=now, notice_id=notice_id,
            source=source, actor="subject", ip=ip, user_agent=user_agent))
    if gpc:
        new_events += [chain.NewEvent(
            tenant_id=ctx.tenant_id, contact_id=contact_id, channel="social_ads",
            purpose_id=p["id"], action="refused", method="web_form",
            collected_at=now, recorded_at=now, source="Sec-GPC: 1", actor="subject", ip=ip,
            user_agent=user_agent) for p in purposes.values()]
    stored = await states.record_events(ctx, new_events)
    requested = [e for e in stored if e["action"] == action]
    if requested and confirm:
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
