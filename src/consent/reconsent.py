"""Asking a person to consent again, to a notice they have not agreed to yet.

Two things ask: a re-permission campaign (consent.campaigns — a new notice
version, new partners) and the reminder before a consent expires
(consent.expiry). Each question is a `reconsent_request` row and an e-mail
with a signed link (consent.requests.links, use `reconsent`) to a page that
shows the notice verbatim. A GET only shows it (mail scanners open links);
the person's POST records a `granted` event under that notice — method
`double_opt_in`, since the address was proved by the link — and stamps the
request as confirmed (and counts it in its campaign). Nothing happens to
those who do not answer: their current consent stays as it is, until it
expires or the tenant decides otherwise.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Optional

import msgspec

from consent import contacts, suppression
from consent.ledger import chain, states
from consent.requests import links
from consent.requests.records import LinkGone
from consent.schemas import CHANNEL_NAMES
from messaging.outbox import BULK, enqueue_email
from optinbase import db, i18n
from optinbase.context import TenantContext
from optinbase.errors import NotFound, invalid_field
from optinbase.i18n import N_
from tenants.repository import TenantRecord

# How long a re-consent link stays valid.
LINK_DAYS = 60
MAIL = {"campaign": (N_("mail.reconsent.subject"), N_("mail.reconsent.body")),
        "expiry": (N_("mail.expiry.subject"), N_("mail.expiry.body"))}


async def latest_notice(ctx: TenantContext, purpose_id: uuid.UUID, channel: str,
                        language: str) -> Optional[Any]:
    """The newest notice of the purpose covering `channel`, in `language` when
    there is one (else the newest in any language)."""
    rows = await db.fetch(
        "SELECT id, language, version, channels FROM notice WHERE tenant_id = {}"
        " AND purpose_id = {} ORDER BY version DESC LIMIT 200", ctx.tenant_id, purpose_id)
    covering = [r for r in rows if channel in r["channels"]]
    same = [r for r in covering if r["language"].split("-")[0] == language]
    return (same or covering or [None])[0]


async def ask(ctx: TenantContext, tenant: TenantRecord,
              people: list[tuple[Any, Optional[dt.datetime]]], *, purpose: Any, channel: str,
              notice_id: uuid.UUID, reason: str, now: dt.datetime, secret_key: str,
              public_url: str, campaign_id: Optional[uuid.UUID] = None) -> int:
    """Records the questions and queues their e-mails, in the caller's
    transaction, two pipelined statements for them all. `people`: (contact
    with id, email, locale, language; the date the e-mail names, by default
    the link's end). `purpose`: its id and name. Returns how many."""
    until = now + dt.timedelta(days=LINK_DAYS)
    subject, body = MAIL[reason]
    requests, mails = [], []
    for contact, expires in people:
        request_id = uuid.uuid4()
        requests.append((request_id, ctx.tenant_id, campaign_id, contact["id"], purpose["id"],
                         channel, notice_id, reason, now))
        token = links.make(secret_key, "reconsent", ctx.tenant_id, request_id, until)
        language = i18n.choose(tenant, person=contacts.locales(contact))
        texts = i18n.texts(language, tenant)
        mails.append(dict(
            to=contact["email"], contact_id=contact["id"], priority=BULK,
            subject=texts.gettext(subject, tenant=tenant.name),
            text=texts.gettext(body, tenant=tenant.name, purpose=purpose["name"],
                               channel=texts.gettext(CHANNEL_NAMES[channel]),
                               link=f"{public_url}/p/reconsent/{token}",
                               expires=expires or until),
            headers={"Content-Language": language}))
    await db.executemany(
        "INSERT INTO reconsent_request (id, tenant_id, campaign_id, contact_id, purpose_id,"
        " channel, notice_id, reason, sent_at) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {})",
        requests)
    for mail in mails:
        await enqueue_email(ctx.tenant_id, **mail)
    return len(requests)


class ReconsentView(msgspec.Struct, kw_only=True):
    """The re-consent page: `state` ask (notice and button) | done."""

    state: str
    tenant: str
    language: str
    purpose: str
    channel: str
    notice_id: uuid.UUID
    notice_version: int
    notice_language: str
    notice_text: str
    partners: list[str]
    policy_url: Optional[str]


_REQUEST = (
    "SELECT r.id, r.campaign_id, r.contact_id, r.purpose_id, r.channel, r.notice_id,"
    " r.reason, r.confirmed_at, p.name AS purpose_name, n.version, n.language AS notice_language,"
    " n.text, n.partners, n.policy_url, c.email, c.phone, c.locale, c.language"
    " FROM reconsent_request r"
    " JOIN purpose p ON p.tenant_id = r.tenant_id AND p.id = r.purpose_id"
    " JOIN notice n ON n.tenant_id = r.tenant_id AND n.id = r.notice_id"
    " JOIN contact c ON c.tenant_id = r.tenant_id AND c.id = r.contact_id"
    " WHERE r.tenant_id = {} AND r.id = {}"
)


async def page(ctx: TenantContext, tenant: TenantRecord, token: str, *, confirm: bool,
               ip: Optional[str] = None, user_agent: Optional[str] = None) -> ReconsentView:
    """GET shows the notice; POST grants under it (once). In the person's
    language, error pages included."""
    link = links.open_for(ctx, token, "reconsent")
    row = await db.fetchrow(_REQUEST, ctx.tenant_id, link.subject_id)
    if row is None:  # erased since, or never this tenant's
        raise NotFound("this link is not valid", msgid=N_("error.link_invalid"))
    person = contacts.locales(row)
    now = dt.datetime.now(dt.timezone.utc)
    if link.expires_at <= now and row["confirmed_at"] is None:
        raise LinkGone("this link has expired", msgid=N_("error.link_expired"), person=person)
    done = row["confirmed_at"] is not None
    if confirm and not done:
        await _grant(ctx, row, now, ip, user_agent)
        done = True
    language = i18n.choose(tenant, person=person)
    return ReconsentView(
        state="done" if done else "ask", tenant=tenant.name, language=language,
        purpose=row["purpose_name"],
        channel=i18n.texts(language, tenant).gettext(CHANNEL_NAMES[row["channel"]]),
        notice_id=row["notice_id"], notice_version=int(row["version"]),
        notice_language=row["notice_language"], notice_text=row["text"],
        partners=list(row["partners"] or []), policy_url=row["policy_url"])


async def _grant(ctx: TenantContext, row: Any, now: dt.datetime, ip: Optional[str],
                 user_agent: Optional[str]) -> None:
    """The person's `granted` under the new notice, and the progress counters."""
    if await suppression.is_suppressed(ctx, row["email"], row["phone"], row["channel"]):
        raise invalid_field("channel", "the person is on the suppression list for this channel")
    source = "re-consent: " + ("campaign " + str(row["campaign_id"])
                               if row["campaign_id"] else "before expiry")
    await states.record_events(ctx, [chain.NewEvent(
        tenant_id=ctx.tenant_id, contact_id=row["contact_id"], channel=row["channel"],
        purpose_id=row["purpose_id"], action="granted", method="double_opt_in",
        collected_at=now, recorded_at=now, notice_id=row["notice_id"], source=source,
        actor="subject", ip=ip, user_agent=user_agent)])
    await db.execute("UPDATE reconsent_request SET confirmed_at = {} WHERE tenant_id = {}"
                     " AND id = {}", now, ctx.tenant_id, row["id"])
    if row["campaign_id"] is not None:
        await db.execute(
            "UPDATE reconsent_campaign SET confirmed = confirmed + 1, pending = pending - 1"
            " WHERE tenant_id = {} AND id = {}", ctx.tenant_id, row["campaign_id"])
