"""A request arrives and the person's identity is checked.

received → verification link e-mailed (or identity attested by staff or the
integrator, recorded as such) → verified. One open request per person and
kind: a second is the same request (a partial unique index makes that hold
under concurrent submissions too). Nothing here tells whether the address is
in the base: the intake never looks the person up, and the e-mail is the same.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any, Optional

import msgspec

from consent import suppression
from consent.requests import deadlines, links, mail
from consent.requests.records import (
    OPEN_SQL,
    Duplicate,
    LinkGone,
    count_events,
    find,
    get_request,
    mailing,
    record_event,
    update,
)
from consent.requests.schemas import RequestIn, RequestOut
from optinbase import db, limits
from optinbase.context import TenantContext
from optinbase.errors import Conflict, Invalid, invalid_field
from optinbase.i18n import N_
from optinbase.normalise import normalise_email, normalise_phone

VERIFY_HOURS = 72  # tenant setting `request_verification_hours`
# A person (or someone typing their address) asking again gets the link again,
# but not more than this many times an hour: the form must not flood an inbox.
RESENDS_PER_HOUR = 3

_DUPLICATE = (
    "SELECT id FROM data_subject_request WHERE tenant_id = {} AND subject_hash = {}"
    f" AND kind = {{}} AND status IN {OPEN_SQL} ORDER BY received_at LIMIT 1"
)
_INSERT = (
    "INSERT INTO data_subject_request (id, tenant_id, kind, status, source, email, phone,"
    " subject_hash, contact_id, locale, note, changes, verification, received_at, verified_at,"
    " due_at, extended_months, extension_reason, outcome, updated_at)"
    " VALUES ({id}, {tenant_id}, {kind}, 'unverified', {source}, {email}, {phone},"
    " {subject_hash}, NULL, {locale}, {note}, {changes}, NULL, {now}, NULL, {due_at},"
    " 0, '', '', {now})"
    f" ON CONFLICT (tenant_id, subject_hash, kind) WHERE status IN {OPEN_SQL} DO NOTHING"
    " RETURNING id"
)


def verify_hours(tenant: Any) -> int:
    return int(tenant.settings.get("request_verification_hours") or VERIFY_HOURS)


def identifier(ctx: TenantContext, email: Optional[str], phone: Optional[str]) -> tuple[str, str]:
    """(kind, normalised value) of the one identifier the person gave."""
    given = [(k, v) for k, v in (("email", email), ("phone", phone)) if v]
    if len(given) != 1:
        raise Invalid("give exactly one of email or phone",
                      errors=[{"field": "email", "message": "exactly one of email or phone"}],
                      msgid=N_("form.email_invalid"))
    kind, value = given[0]
    try:
        return kind, normalise_email(value) if kind == "email" else normalise_phone(value, ctx.country)
    except ValueError as exc:
        raise invalid_field(kind, str(exc)) from None


async def contact_of(ctx: TenantContext, kind: str, value: str) -> Optional[Any]:
    """The contact on file for this identifier, if any (never shown before verification)."""
    return await db.fetchrow(
        f"SELECT id, email, phone FROM contact WHERE tenant_id = {{}} AND {kind} = {{}}",
        ctx.tenant_id, value,
    )


async def subject_hash_of(ctx: TenantContext, value: str) -> str:
    return suppression.identifier_hash(await suppression.tenant_key(ctx.tenant_id), value)


async def receive(ctx: TenantContext, data: RequestIn, *, source: str) -> RequestOut:
    """Records a new request; sends the verification link unless the caller
    attests the person's identity. Raises Duplicate for an open one."""
    db.require_tenant(ctx.tenant_id)
    kind, value = identifier(ctx, data.email, data.phone)
    if data.kind != "rectification" and data.changes is not None:
        raise invalid_field("changes", "only a rectification request carries changes")
    changes = {} if data.changes is None else {
        k: v for k, v in msgspec.structs.asdict(data.changes).items() if v is not msgspec.UNSET}
    subject_hash = await subject_hash_of(ctx, value)
    now = dt.datetime.now(dt.timezone.utc)
    inserted = await db.fetchval(
        _INSERT, id=uuid.uuid4(), tenant_id=ctx.tenant_id, kind=data.kind, source=source,
        email=value if kind == "email" else None, phone=value if kind == "phone" else None,
        subject_hash=subject_hash, locale=data.locale, note=data.note,
        changes=json.dumps(changes), now=now, due_at=deadlines.due_at(now),
    )
    if inserted is None:
        existing = await db.fetchval(_DUPLICATE, ctx.tenant_id, subject_hash, data.kind)
        await record_event(ctx, existing, "duplicate_received", {"source": source})
        raise Duplicate("this person already has an open request of this kind",
                        existing_id=str(existing))
    request_id = inserted
    await record_event(ctx, request_id, "received", {"source": source, "kind": data.kind})
    if data.identity_verified:
        return await attest(ctx, request_id, "attested by the caller" if source == "api" else "")
    await send_verification(ctx, await find(ctx, request_id), kind, value)
    return await get_request(ctx, request_id)


async def send_verification(ctx: TenantContext, request: Any, kind: str, value: str) -> bool:
    """E-mails the verification link to the address given, or for a phone to
    the contact's address on file. Known or not, the e-mail is the same."""
    request_id = request["id"]
    since = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
    if await count_events(ctx, request_id, "verification_sent", since) >= RESENDS_PER_HOUR:
        await record_event(ctx, request_id, "verification_throttled")
        return False
    to = value if kind == "email" else None
    if to is None:
        contact = await contact_of(ctx, kind, value)
        to = contact["email"] if contact is not None else None
    if to is None:  # nowhere to send a link: staff must check who the person is
        await record_event(ctx, request_id, "verification_needs_staff")
        return False
    if not await limits.spend(limits.MAIL_TARGET, f"{ctx.tenant_id}:{to.lower()}"):
        # Whatever the requests, one address gets a few links an hour (issue 13).
        await record_event(ctx, request_id, "verification_throttled")
        return False
    tenant, secret_key, public_url = await mailing(ctx.tenant_id)
    expires = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=verify_hours(tenant))
    token = links.make(secret_key, "verify", ctx.tenant_id, request_id, expires)
    await mail.send(tenant, request, to, "verify", secret_key=secret_key, public_url=public_url,
                    link=f"{public_url}/p/requests/verify/{token}", expires=expires)
    await record_event(ctx, request_id, "verification_sent",
                       {"to": "address given" if kind == "email" else "address on file"})
    return True


async def _match_contact(ctx: TenantContext, request: Any) -> Optional[uuid.UUID]:
    kind = "email" if request["email"] else "phone"
    value = request[kind]
    if value is None:
        return None
    contact = await contact_of(ctx, kind, value)
    return None if contact is None else contact["id"]


async def match_contact_if_missing(ctx: TenantContext, request: Any) -> Any:
    """The person may have joined the base since the request was verified."""
    if request["contact_id"] is not None:
        return request
    matched = await _match_contact(ctx, request)
    return request if matched is None else await update(ctx, request["id"],
                                                        contact_id=matched)


async def _verified(ctx: TenantContext, request: Any, how: str, details: dict[str, Any]) -> Any:
    if request["status"] != "unverified":
        raise Conflict(f"the request is {request['status']}, not awaiting verification")
    request_id = request["id"]
    row = await update(ctx, request_id, status="verified", verification=how,
                       verified_at=dt.datetime.now(dt.timezone.utc),
                       contact_id=await _match_contact(ctx, request))
    await record_event(ctx, request_id, "verified", {"by": how, **details})
    return row


async def attest(ctx: TenantContext, request_id: uuid.UUID, note: str = "") -> RequestOut:
    """Staff (or an integrator) vouch for the person's identity: recorded as such."""
    request = await find(ctx, request_id, lock=True)
    how = "staff" if ctx.actor.startswith("staff:") else "api"
    await _verified(ctx, request, how, {"note_given": bool(note)})
    if note:
        await update(ctx, request_id, note=(request["note"] + "\n" if request["note"] else "")
                     + f"[identity] {note}")
    return await get_request(ctx, request_id)


async def verify_by_link(ctx: TenantContext, link: links.Link, now: dt.datetime) -> Any:
    request = await find(ctx, link.subject_id, lock=True)
    if request["status"] != "unverified":
        return request  # already verified (or closed): the status page says where it stands
    if link.expires_at <= now:
        raise LinkGone("this link has expired; please send your request again",
                       msgid=N_("error.request_link_expired"), person=mail.person_of(request))
    return await _verified(ctx, request, "link", {})


async def again_from_the_form(ctx: TenantContext, existing_id: uuid.UUID, email: str) -> None:
    """A public submission matching an open request: the link goes again if
    still needed (within RESENDS_PER_HOUR); the page answers the same anyway."""
    request = await find(ctx, existing_id, lock=True)
    if request["status"] == "unverified":
        await send_verification(ctx, request, "email", email)
