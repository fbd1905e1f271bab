"""What the public pages do: confirm a double opt-in, unsubscribe in one click,
the hosted subscribe form, the preference centre. Each runs in the
transaction the envelope opened for the tenant the link (or the form's slug)
names; the person is the actor, their IP and user agent are the proof.

The `*_tenant` functions read, without the database, which tenant a token
names — what the envelope needs before it opens the transaction."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Optional

import msgspec

from consent import contacts, suppression, tokens
from consent import gpc as gpc_rules
from consent.journey import double_opt_in, link_rules, subscription
from consent.ledger import chain, states
from optinbase import db, i18n
from optinbase.context import TenantContext
from optinbase.errors import NotFound
from optinbase.i18n import N_
from optinbase.settings import get_settings
from tenants.repository import TenantRecord


class ConsentItem(msgspec.Struct, kw_only=True):
    """One consent a confirmation click confirms, as the page names it."""

    purpose: str
    channel: str
    notice_version: Optional[int] = None
    notice_language: Optional[str] = None
    notice_text: Optional[str] = None


def _items(batch) -> list[ConsentItem]:
    return [ConsentItem(purpose=r["purpose_name"], channel=r["channel"],
                        notice_version=None if r["notice_version"] is None
                        else int(r["notice_version"]),
                        notice_language=r["notice_language"], notice_text=r["notice_text"])
            for r in batch]


class LinkView(msgspec.Struct, kw_only=True):
    """What a page shows about a link; `state` says what happened or can happen;
    `language`: the person's (optinbase.i18n.choose), the page's and its texts'."""

    state: str  # pending | confirmed | expired | replaced | subscribed | unsubscribed | unsubscribed_all
    tenant: str
    purpose: str
    channel: str
    language: str
    notice_text: Optional[str] = None
    notice_language: Optional[str] = None
    # Confirm page: every consent the click confirms (or confirmed).
    consents: list[ConsentItem] = []
    preferences_url: Optional[str] = None  # unsubscribe page: the way to the preference centre
    withdrawn: int = 0  # "unsubscribe from everything": how many consents that ended


def _confirmation(token: str, ctx: Optional[TenantContext] = None) -> double_opt_in.Confirmation:
    confirmation = double_opt_in.read_token(get_settings().secret_key, token)
    if confirmation is None or (ctx is not None and confirmation.tenant_id != ctx.tenant_id):
        raise NotFound("this confirmation link is not valid",
                       msgid=N_("error.confirm_link_invalid"))
    return confirmation


def confirmation_tenant(token: str) -> uuid.UUID:
    return _confirmation(token).tenant_id


def _view(row, tenant, state: str) -> LinkView:
    return LinkView(
        state=state, tenant=tenant.name, purpose=row["purpose_name"], channel=row["channel"],
        language=i18n.choose(tenant, person=contacts.locales(row)), notice_text=row["notice_text"],
        notice_language=row["notice_language"],
    )


async def show_confirmation(ctx: TenantContext, tenant: TenantRecord, token: str) -> LinkView:
    """GET: describes the request; changes nothing (mail scanners open links)."""
    confirmation = _confirmation(token, ctx)
    row = await double_opt_in.pending_request(confirmation)
    try:
        double_opt_in.check_usable(row, confirmation, dt.datetime.now(dt.timezone.utc))
    except double_opt_in.LinkGone as gone:
        return _view(row, tenant, gone.extra["state"])
    view = _view(row, tenant, "pending")
    view.consents = _items(await double_opt_in.same_submission(ctx, row))
    return view


async def confirm(ctx: TenantContext, tenant: TenantRecord, token: str, ip: Optional[str],
                  user_agent: Optional[str], gpc: bool = False) -> LinkView:
    confirmation = _confirmation(token, ctx)
    try:
        row, batch = await double_opt_in.confirm(ctx, confirmation, ip=ip,
                                                 user_agent=user_agent)
    except double_opt_in.LinkGone as gone:  # refused before anything was written
        return _view(await double_opt_in.pending_request(confirmation), tenant,
                     gone.extra["state"])
    if gpc:
        await honour_gpc(ctx, row["contact_id"], ip, user_agent)
    view = _view(row, tenant, "confirmed")
    view.consents = _items(batch)
    return view


_SUBSCRIPTION = (
    "SELECT c.id AS contact_id, c.locale, c.language, p.key AS purpose_key,"
    " p.name AS purpose_name, s.status, s.notice_text, s.notice_language"
    " FROM contact c JOIN purpose p ON p.tenant_id = c.tenant_id AND p.id = {}"
    " LEFT JOIN (SELECT cs.contact_id, cs.status, n.text AS notice_text,"
    "   n.language AS notice_language FROM consent_state cs"
    "   JOIN consent_event e ON e.tenant_id = cs.tenant_id AND e.id = cs.event_id"
    "   LEFT JOIN notice n ON n.tenant_id = e.tenant_id AND n.id = e.notice_id"
    "   WHERE cs.tenant_id = {} AND cs.contact_id = {} AND cs.purpose_id = {} AND cs.channel = {}"
    " ) s ON s.contact_id = c.id"
    " WHERE c.tenant_id = {} AND c.id = {}"
)


async def _subscription(link: tokens.LinkToken):
    row = await db.fetchrow(
        _SUBSCRIPTION, link.purpose_id, link.tenant_id, link.contact_id, link.purpose_id,
        link.channel, link.tenant_id, link.contact_id,
    )
    if row is None:
        raise NotFound("this link is not valid", msgid=N_("error.link_invalid"))
    return row


def _link(token: str, ctx: Optional[TenantContext] = None) -> tokens.LinkToken:
    link = tokens.verify_token(get_settings().secret_key, token)
    if link is None or (ctx is not None and link.tenant_id != ctx.tenant_id):
        raise NotFound("this link is not valid", msgid=N_("error.link_invalid"))
    return link


def subscriber_tenant(token: str) -> uuid.UUID:
    """The tenant of an unsubscribe or preference link."""
    return _link(token).tenant_id


async def honour_gpc(ctx: TenantContext, contact_id, ip: Optional[str],
                     user_agent: Optional[str]) -> None:
    """Sec-GPC: 1 is an objection to social ads: refuse them for every purpose not
    already refused or withdrawn, with the signal as the proof."""

    rows = await db.fetch(
        "SELECT p.id FROM purpose p WHERE p.tenant_id = {} AND NOT EXISTS ("
        " SELECT 1 FROM consent_state s WHERE s.tenant_id = p.tenant_id AND s.purpose_id = p.id"
        " AND s.contact_id = {} AND s.channel = 'social_ads' AND s.status IN ('refused', 'withdrawn'))",
        ctx.tenant_id, contact_id,
    )
    now = dt.datetime.now(dt.timezone.utc)
    await states.record_events(ctx, [chain.NewEvent(
        tenant_id=ctx.tenant_id, contact_id=contact_id, channel="social_ads",
        purpose_id=r["id"], action="refused", method="web_form", collected_at=now,
        recorded_at=now, source="Sec-GPC: 1", actor="subject", ip=ip, user_agent=user_agent,
    ) for r in rows])


def _unsubscribe_view(row, tenant, token: str, channel: str, state: str) -> LinkView:
    return LinkView(state=state, tenant=tenant.name, purpose=row["purpose_name"], channel=channel,
                    language=i18n.choose(tenant, person=contacts.locales(row)),
                    preferences_url=f"{get_settings().public_url}/p/preferences/{token}")


async def show_unsubscribe(ctx: TenantContext, tenant: TenantRecord, token: str) -> LinkView:
    link = _link(token, ctx)
    row = await _subscription(link)
    state = "unsubscribed" if row["status"] in ("withdrawn", "refused", None) else "subscribed"
    return _unsubscribe_view(row, tenant, token, link.channel, state)


def _withdrawal(ctx: TenantContext, contact_id, channel: str, purpose_id, now: dt.datetime,
                source: str, ip: Optional[str], user_agent: Optional[str]) -> chain.NewEvent:
    return chain.NewEvent(
        tenant_id=ctx.tenant_id, contact_id=contact_id, channel=channel, purpose_id=purpose_id,
        action="withdrawn", method="one_click_unsubscribe", collected_at=now, recorded_at=now,
        source=source, actor="subject", ip=ip, user_agent=user_agent)


async def unsubscribe(ctx: TenantContext, tenant: TenantRecord, token: str, ip: Optional[str],
                      user_agent: Optional[str], gpc: bool = False,
                      everything: bool = False) -> LinkView:
    """One click (RFC 8058) withdraws exactly the consent the link names — the
    purpose and channel the e-mail carrying it was sent under; a second click
    records nothing more. `everything` (the page's other button) withdraws
    every consent the person holds with the tenant, every purpose and channel."""
    link = _link(token, ctx)
    row = await _subscription(link)
    contact_id, now = row["contact_id"], dt.datetime.now(dt.timezone.utc)
    source = link_rules.proof("unsubscribe", row["purpose_key"], link.channel, token)
    if everything:
        held = await db.fetch(
            "SELECT channel, purpose_id FROM consent_state WHERE tenant_id = {}"
            " AND contact_id = {} AND status IN ('granted', 'pending') ORDER BY channel, purpose_id",
            ctx.tenant_id, contact_id)
        events = [_withdrawal(ctx, contact_id, r["channel"], r["purpose_id"], now,
                              source + " (everything)", ip, user_agent) for r in held]
    elif row["status"] not in ("withdrawn", "refused", None):
        events = [_withdrawal(ctx, contact_id, link.channel, link.purpose_id, now, source, ip,
                              user_agent)]
    else:
        events = []
    await states.record_events(ctx, events)
    if gpc:
        await honour_gpc(ctx, contact_id, ip, user_agent)
    view = _unsubscribe_view(row, tenant, token, link.channel,
                             "unsubscribed_all" if everything else "unsubscribed")
    view.withdrawn = len(events)
    return view


# --- hosted subscribe form ----------------------------------------------------


class FormView(msgspec.Struct, kw_only=True):
    tenant: str
    slug: str
    language: str  # nobody is known yet: the browser's, else the tenant's
    offers: list


async def show_subscribe_form(ctx: TenantContext, tenant: TenantRecord,
                              accept_language: str) -> FormView:
    language = i18n.choose(tenant, accept_language=accept_language)
    offers = await subscription.offers(ctx, language)
    return FormView(tenant=tenant.name, slug=tenant.slug, language=language, offers=offers)


# --- preference centre --------------------------------------------------------


class PreferenceRow(msgspec.Struct, kw_only=True):
    purpose: str
    purpose_name: str
    notice_id: str
    notice_text: str
    notice_language: str
    channels: dict[str, str]  # channel -> current status ("none" when never asked)
    # The boxes shown (link_rules.offered): a link never offers a new SMS or
    # phone grant, and every new grant it offers waits for the confirmation e-mail.
    offered: list[str] = []


class PreferencesView(msgspec.Struct, kw_only=True):
    tenant: str
    language: str
    rows: list[PreferenceRow]
    saved: bool = False
    requested: int = 0  # grants waiting for the confirmation e-mail just sent
    subscribe_url: str = ""  # where SMS and phone consent can be given
    withheld: list[str] = []  # channels whose new grant this link does not offer


async def _preferences(ctx, tenant, contact_id) -> PreferencesView:

    contact = await subscription.find_contact_or_404(ctx, contact_id)
    language = i18n.choose(tenant, person=contacts.locales(contact))
    current = {(r["key"], r["channel"]): r["status"] for r in await db.fetch(
        "SELECT p.key, s.channel, s.status FROM consent_state s JOIN purpose p"
        " ON p.tenant_id = s.tenant_id AND p.id = s.purpose_id"
        " WHERE s.tenant_id = {} AND s.contact_id = {}", ctx.tenant_id, contact_id)}
    offers = await subscription.offers(ctx, language)
    listed = {c for c in {c for o in offers for c in o.channels}
              if await suppression.is_suppressed(ctx, contact["email"], contact["phone"], c)}
    rows = []
    for o in offers:
        channels = {c: current.get((o.purpose, c), "none") for c in o.channels}
        rows.append(PreferenceRow(
            purpose=o.purpose, purpose_name=o.purpose_name, notice_id=str(o.notice_id),
            notice_text=o.notice_text, notice_language=o.notice_language, channels=channels,
            offered=[c for c, status in channels.items()
                     if link_rules.offered(c, status, bool(contact["email"]), c in listed)]))
    return PreferencesView(
        tenant=tenant.name, language=language, rows=rows,
        subscribe_url=f"{get_settings().public_url}/p/{tenant.slug}/subscribe",
        withheld=sorted({c for r in rows for c in r.channels if c not in r.offered}))


async def show_preferences(ctx: TenantContext, tenant: TenantRecord, token: str
                           ) -> PreferencesView:
    return await _preferences(ctx, tenant, _link(token, ctx).contact_id)


def _decide(row: PreferenceRow, channel: str, status: str, want: bool) -> Optional[str]:
    """The event a box's new state calls for (link_rules), or None. A ticked
    box the page did not offer (a forged or stale POST) records nothing, and
    does not stop the rest of the save: a withdrawal beside it still counts."""
    if not want:
        return "withdrawn" if status in link_rules.HELD else None
    if status in link_rules.HELD or channel not in row.offered:
        return None  # pending stays pending until its e-mail is confirmed
    return "requested"  # a link never grants by itself (link_rules)


async def save_preferences(ctx: TenantContext, tenant: TenantRecord, token: str,
                           chosen: set[tuple[str, str]], notices: dict[str, str], *,
                           ip: Optional[str], user_agent: Optional[str],
                           gpc: bool) -> PreferencesView:
    """Every box is a decision: ticked = wanted (with the notice shown beside
    it), unticked = withdrawn. Only changes are recorded, each a ledger event
    naming the link; what a link may grant is link_rules' to say."""
    link = _link(token, ctx)
    view = await _preferences(ctx, tenant, link.contact_id)
    purposes = {r["key"]: r["id"] for r in await db.fetch(
        "SELECT id, key FROM purpose WHERE tenant_id = {}", ctx.tenant_id)}
    keys = {purpose_id: key for key, purpose_id in purposes.items()}
    sharing = await gpc_rules.partner_purposes(ctx) if gpc else set()
    source = link_rules.proof("preference", keys.get(link.purpose_id, "?"), link.channel, token)
    now = dt.datetime.now(dt.timezone.utc)
    changes = []
    for row in view.rows:
        if notices.get(row.purpose, row.notice_id) != row.notice_id:
            raise NotFound("the page was out of date; please reload it",
                           msgid=N_("error.page_out_of_date"), person=(view.language,))
        for channel, status in row.channels.items():
            want = (row.purpose, channel) in chosen and not (
                gpc and gpc_rules.refuses(channel, row.purpose, sharing))
            action = _decide(row, channel, status, want)
            if action:
                changes.append(chain.NewEvent(
                    tenant_id=ctx.tenant_id, contact_id=link.contact_id, channel=channel,
                    purpose_id=purposes[row.purpose], action=action,
                    method="preference_centre", collected_at=now, recorded_at=now,
                    notice_id=uuid.UUID(row.notice_id) if action != "withdrawn" else None,
                    source=source + (" (Sec-GPC: 1)" if gpc else ""),
                    actor="subject", ip=ip, user_agent=user_agent))
    stored = await states.record_events(ctx, changes)
    requested = [e for e in stored if e["action"] == "requested"]
    if requested:
        await _ask_confirmation(ctx, tenant, link.contact_id, requested)
    view = await _preferences(ctx, tenant, link.contact_id)
    view.saved, view.requested = True, len(requested)
    return view


async def _ask_confirmation(ctx: TenantContext, tenant: TenantRecord, contact_id: uuid.UUID,
                            requested: list[dict]) -> None:
    """The subscribe form's confirmation e-mail, for grants asked through a link."""
    contact = await subscription.find_contact_or_404(ctx, contact_id)
    names = {r["id"]: r["name"] for r in await db.fetch(
        "SELECT id, name FROM purpose WHERE tenant_id = {}", ctx.tenant_id)}
    settings = get_settings()
    await double_opt_in.request_confirmation(
        ctx, tenant, contact, [(e, names[e["purpose_id"]]) for e in requested],
        secret_key=settings.secret_key, public_url=settings.public_url)
