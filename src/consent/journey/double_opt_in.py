"""Double opt-in: a grant that needs confirmation stays `pending` until the person
clicks the link e-mailed to them — and then presses a button, since mail
scanners open links (GET shows, only POST confirms).

The confirmation link carries the tenant, the `requested` ledger event and an
expiry, signed with SECRET_KEY. It is single-use without any extra storage: it
confirms only while the consent state still points at that very request.
"""

from __future__ import annotations

import datetime as dt
import logging
import struct
import uuid
from typing import Any, NamedTuple, Optional

from consent import contacts, receipts, sealed, tokens
from consent.ledger import chain, states
from consent.schemas import CHANNEL_NAMES
from messaging.outbox import TRANSACTIONAL, enqueue_email
from optinbase import db, i18n, limits
from optinbase.context import TenantContext
from optinbase.errors import Gone, NotFound, invalid_field
from optinbase.i18n import N_
from tenants.repository import TenantRecord

logger = logging.getLogger(__name__)

_DOMAIN = b"optinbase-confirm\x00"
_VERSION = b"\x01"
_LAYOUT = struct.Struct(">c16s16sQ")  # version, tenant, requested event, expiry (unix s)


class LinkGone(Gone):
    """Expired or already used: the page says so, nothing changes."""


class Confirmation(NamedTuple):
    tenant_id: uuid.UUID
    event_id: uuid.UUID
    expires_at: dt.datetime


def make_token(secret_key: str, tenant_id: uuid.UUID, event_id: uuid.UUID,
               expires_at: dt.datetime) -> str:
    body = _LAYOUT.pack(_VERSION, tenant_id.bytes, event_id.bytes, int(expires_at.timestamp()))
    return sealed.seal(secret_key, _DOMAIN, body)


def read_token(secret_key: str, token: str) -> Optional[Confirmation]:
    body = sealed.unseal(secret_key, _DOMAIN, token, _LAYOUT.size)
    if body is None:
        return None
    version, tenant, event, expires = _LAYOUT.unpack(body)
    if version != _VERSION:
        return None
    return Confirmation(uuid.UUID(bytes=tenant), uuid.UUID(bytes=event),
                        dt.datetime.fromtimestamp(expires, dt.timezone.utc))


def needs_confirmation(tenant: TenantRecord, channel: str, asked: bool) -> bool:
    return asked or channel in (tenant.settings.get("double_opt_in_channels") or [])


def lifetime(tenant: TenantRecord) -> dt.timedelta:
    return dt.timedelta(hours=int(tenant.settings.get("confirmation_token_hours") or 72))


async def request_confirmation(
    ctx: TenantContext, tenant: TenantRecord, contact: Any, requested: list[tuple[dict, str]],
    *, secret_key: str, public_url: str,
) -> None:
    """Queue one confirmation e-mail for the `requested` events of one submission
    (same transaction); `requested` pairs each event with its purpose's name."""
    if not contact["email"]:
        raise invalid_field("double_opt_in", "double opt-in needs the contact's e-mail address")
    event = requested[0][0]
    if not await limits.spend(limits.MAIL_TARGET, f"{ctx.tenant_id}:{contact['email'].lower()}"):
        # A form filled again and again with one address mails it a few times an
        # hour, no more (issue 13); the consent stays pending, the answer the same.
        logger.info("confirmation e-mail not sent: too many for this address this hour")
        return
    expires = event["recorded_at"] + lifetime(tenant)
    link = f"{public_url}/p/confirm/{make_token(secret_key, ctx.tenant_id, event['id'], expires)}"
    unsubscribe = tokens.make_token(
        secret_key, ctx.tenant_id, event["contact_id"], event["purpose_id"], event["channel"]
    )
    language = i18n.choose(tenant, person=contacts.locales(contact))
    texts = i18n.texts(language, tenant)
    listed = ", ".join(texts.gettext("mail.purpose_item", purpose=name,
                                     channel=texts.gettext(CHANNEL_NAMES[e["channel"]]))
                       for e, name in requested)
    await enqueue_email(
        ctx.tenant_id, to=contact["email"],
        subject=texts.gettext("mail.confirm.subject", tenant=tenant.name),
        text=texts.gettext("mail.confirm.body", tenant=tenant.name, purposes=listed, link=link,
                           expires=expires,
                           preferences=f"{public_url}/p/preferences/{unsubscribe}"),
        contact_id=event["contact_id"], priority=TRANSACTIONAL,
        headers={
            "List-Unsubscribe": f"<{public_url}/p/unsubscribe/{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "Content-Language": language,
        },
    )


_REQUEST = (
    "SELECT e.id, e.contact_id, e.channel, e.purpose_id, e.notice_id, e.recorded_at,"
    " p.key AS purpose, p.name AS purpose_name, n.text AS notice_text, n.language AS notice_language,"
    " s.status, s.event_id AS state_event, c.locale, c.language"
    " FROM consent_event e"
    " JOIN purpose p ON p.tenant_id = e.tenant_id AND p.id = e.purpose_id"
    " LEFT JOIN notice n ON n.tenant_id = e.tenant_id AND n.id = e.notice_id"
    " LEFT JOIN consent_state s ON s.tenant_id = e.tenant_id AND s.contact_id = e.contact_id"
    "  AND s.channel = e.channel AND s.purpose_id = e.purpose_id"
    " LEFT JOIN contact c ON c.tenant_id = e.tenant_id AND c.id = e.contact_id"
    " WHERE e.tenant_id = {} AND e.id = {} AND e.action = 'requested'"
)


async def pending_request(confirmation: Confirmation) -> Any:
    """The request behind a link, in the caller's transaction for its tenant."""
    row = await db.fetchrow(_REQUEST, confirmation.tenant_id, confirmation.event_id)
    if row is None or row["contact_id"] is None:
        raise NotFound("this confirmation link is not valid",
                       msgid=N_("error.confirm_link_invalid"))
    return row


def check_usable(row: Any, confirmation: Confirmation, now: dt.datetime) -> None:
    if row["status"] == "granted" and row["state_event"] != row["id"]:
        raise LinkGone("this subscription is already confirmed", state="confirmed")
    if row["status"] != "pending" or row["state_event"] != row["id"]:
        raise LinkGone("this link was replaced or withdrawn", state="replaced")
    if confirmation.expires_at <= now:
        raise LinkGone("this link has expired; please subscribe again", state="expired")


# The requests of the same submission (same contact, same instant) that still
# wait: one link confirms everything the person ticked at once, and the page
# lists each of them (purpose, channel, notice version) before the click.
_SAME_SUBMISSION = (
    "SELECT e.id, e.channel, e.purpose_id, e.notice_id, p.name AS purpose_name,"
    " n.version AS notice_version, n.language AS notice_language, n.text AS notice_text"
    " FROM consent_event e"
    " JOIN consent_state s ON s.tenant_id = e.tenant_id AND s.event_id = e.id"
    "  AND s.status = 'pending'"
    " JOIN purpose p ON p.tenant_id = e.tenant_id AND p.id = e.purpose_id"
    " LEFT JOIN notice n ON n.tenant_id = e.tenant_id AND n.id = e.notice_id"
    " WHERE e.tenant_id = {} AND e.contact_id = {} AND e.action = 'requested'"
    "  AND e.recorded_at = {} ORDER BY e.seq"
)


async def same_submission(ctx: TenantContext, row: Any) -> list[Any]:
    """What confirming the request `row` (pending_request) confirms."""
    return await db.fetch(_SAME_SUBMISSION, ctx.tenant_id, row["contact_id"],
                          row["recorded_at"])


async def confirm(ctx: TenantContext, confirmation: Confirmation, *, ip: Optional[str],
                  user_agent: Optional[str]) -> tuple[Any, list[Any]]:
    """Appends a `confirmed` event with its proof per waiting request; states
    become granted. Returns the request and what was confirmed."""

    row = await pending_request(confirmation)
    now = dt.datetime.now(dt.timezone.utc)
    check_usable(row, confirmation, now)
    batch = await same_submission(ctx, row)
    stored = await states.record_events(ctx, [chain.NewEvent(
        tenant_id=ctx.tenant_id, contact_id=row["contact_id"], channel=r["channel"],
        purpose_id=r["purpose_id"], action="confirmed", method="double_opt_in",
        collected_at=now, recorded_at=now,
        notice_id=None if r["notice_id"] is None else r["notice_id"],
        source="confirmation link", actor="subject", ip=ip, user_agent=user_agent,
    ) for r in batch])
    await receipts.email_after_confirmation(ctx, [e["id"] for e in stored])  # if the tenant asks
    return row, batch


async def expire_unconfirmed(ctx: TenantContext, tenant: TenantRecord, now: dt.datetime) -> int:
    """Requests left unconfirmed past the tenant's lifetime get an `expired`
    event (the worker runs this for each tenant). Returns how many expired."""
    rows = await db.fetch(
        "SELECT contact_id, channel, purpose_id, event_id FROM consent_state"
        " WHERE tenant_id = {} AND status = 'pending' AND since < {} LIMIT 1000",
        ctx.tenant_id, now - lifetime(tenant),
    )
    stored = await states.record_events(ctx, [chain.NewEvent(
        tenant_id=ctx.tenant_id, contact_id=r["contact_id"], channel=r["channel"],
        purpose_id=r["purpose_id"], action="expired", method="double_opt_in",
        collected_at=now, recorded_at=now, source="not confirmed in time",
        actor="system") for r in rows])
    return len(stored)
