"""The life of a data-subject request, each step in the caller's tenant
transaction and each step an event of the request's trail:

received → (verification link sent | identity attested) → verified →
completed (the kind is executed) | rejected; an unverified request whose link
ran out lapses. Extensions move `due_at` while the request is open.

Callers: the API (`api.controllers.requests`), the admin panel's forms and
the public pages (`consent.requests.public`).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any, Optional

import msgspec

from consent import cursors, notify, suppression
from consent.audit import db_uuid
from consent.normalise import normalise_email, normalise_phone
from consent.requests import deadlines, execution, links, mail, scrub
from consent.requests.schemas import (
    OPEN, CloseIn, ExtendIn, RequestEventOut, RequestIn, RequestOut,
)
from consent.schemas import Page
from optinbase import db
from optinbase.context import TenantContext
from optinbase.settings import get_settings
from optinbase.errors import Conflict, Gone, Invalid, NotFound, invalid_field
from tenants import repository
from tenants.repository import TenantRecord

VERIFY_HOURS = 72  # tenant setting `request_verification_hours`

COLUMNS = (
    "id, kind, status, source, email, phone, subject_hash, contact_id, locale, note, changes,"
    " verification, received_at, verified_at, due_at, extended_months, extension_reason,"
    " closed_at, outcome, package_expires_at"
)
_ONE = f"SELECT {COLUMNS} FROM data_subject_request WHERE tenant_id = {{}} AND id = {{}}"
# An open request of the same kind by the same person is the same request.
_DUPLICATE = (
    "SELECT id FROM data_subject_request WHERE tenant_id = {} AND subject_hash = {}"
    " AND kind = {} AND status IN ('unverified', 'verified') ORDER BY received_at LIMIT 1"
)
_INSERT = (
    "INSERT INTO data_subject_request (id, tenant_id, kind, status, source, email, phone,"
    " subject_hash, contact_id, locale, note, changes, verification, received_at, verified_at,"
    " due_at, extended_months, extension_reason, outcome, updated_at)"
    " VALUES ({}, {}, {}, 'unverified', {}, {}, {}, {}, NULL, {}, {}, {}, NULL, {}, NULL, {},"
    " 0, '', '', {})"
)
_TRAIL = (
    "SELECT at, actor, action, details FROM request_event"
    " WHERE tenant_id = {} AND request_id = {} ORDER BY at, id"
)


class Duplicate(Conflict):
    """The person already has an open request of this kind (`existing_id`)."""


class LinkGone(Gone):
    """An expired verification link, or a package past its time."""


# --- reading ---------------------------------------------------------------------


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def request_out(row: Any, now: Optional[dt.datetime] = None,
                events: Optional[list[RequestEventOut]] = None) -> RequestOut:
    now = now or dt.datetime.now(dt.timezone.utc)
    return RequestOut(
        id=db_uuid(row["id"]), kind=row["kind"], status=row["status"], source=row["source"],
        email=row["email"], phone=row["phone"],
        contact_id=None if row["contact_id"] is None else db_uuid(row["contact_id"]),
        locale=row["locale"], note=row["note"], changes=_json(row["changes"]) or {},
        verification=row["verification"], received_at=row["received_at"],
        verified_at=row["verified_at"], due_at=row["due_at"],
        overdue=row["status"] in OPEN and deadlines.is_overdue(row["due_at"], now),
        extended_months=row["extended_months"], extension_reason=row["extension_reason"],
        closed_at=row["closed_at"], outcome=row["outcome"],
        package_expires_at=row["package_expires_at"], events=events,
    )


async def find(ctx: TenantContext, request_id: uuid.UUID) -> Any:
    db.require_tenant(ctx.tenant_id)
    row = await db.fetchrow(_ONE, ctx.tenant_id, request_id)
    if row is None:
        raise NotFound("request not found")
    return row


async def trail(ctx: TenantContext, request_id: uuid.UUID) -> list[RequestEventOut]:
    return [
        RequestEventOut(at=r["at"], actor=r["actor"], action=r["action"],
                        details=_json(r["details"]) or {})
        for r in await db.fetch(_TRAIL, ctx.tenant_id, request_id)
    ]


async def get_request(ctx: TenantContext, request_id: uuid.UUID) -> RequestOut:
    row = await find(ctx, request_id)
    return request_out(row, events=await trail(ctx, request_id))


# Named lists: `open` (not closed), `overdue` (open, past due), `due_soon`
# (open, due within DUE_SOON), or a status.
LISTS = ("open", "overdue", "due_soon", "unverified", "verified", "completed", "rejected", "lapsed")


async def list_requests(ctx: TenantContext, *, status: Optional[str], limit: int,
                        cursor: Optional[str]) -> Page:
    db.require_tenant(ctx.tenant_id)
    now = dt.datetime.now(dt.timezone.utc)
    where, args = ["tenant_id = {}"], [ctx.tenant_id]
    if status is not None:
        if status not in LISTS:
            raise invalid_field("status", f"one of {', '.join(LISTS)}")
        if status in ("open", "overdue", "due_soon"):
            where.append("status IN ('unverified', 'verified')")
            if status == "overdue":
                where.append("due_at < {}")
                args.append(now)
            elif status == "due_soon":
                where.append("due_at >= {} AND due_at <= {}")
                args += [now, now + deadlines.DUE_SOON]
        else:
            where.append("status = {}")
            args.append(status)
    if cursor:  # ordered by due date: what must be done first comes first
        after_due, after_id = cursors.decode_pair(cursor)
        where.append("(due_at > {} OR (due_at = {} AND id > {}))")
        args += [after_due, after_due, after_id]
    rows = await db.fetch(
        f"SELECT {COLUMNS} FROM data_subject_request WHERE {' AND '.join(where)}"
        " ORDER BY due_at, id LIMIT {}", *args, limit + 1,
    )
    items = [request_out(r, now) for r in rows[:limit]]
    next_cursor = cursors.encode_pair(items[-1].due_at, items[-1].id) if len(rows) > limit else None
    return Page(items=items, next_cursor=next_cursor)


# --- the trail -----------------------------------------------------------------


async def record_event(ctx: TenantContext, request_id: uuid.UUID, action: str,
                       details: Optional[dict[str, Any]] = None,
                       at: Optional[dt.datetime] = None) -> None:
    await db.execute(
        "INSERT INTO request_event (id, tenant_id, request_id, at, actor, action, details)"
        " VALUES ({}, {}, {}, {}, {}, {}, {})",
        uuid.uuid4(), ctx.tenant_id, request_id, at or dt.datetime.now(dt.timezone.utc),
        ctx.actor, action, json.dumps(details or {}),
    )


async def _update(ctx: TenantContext, request_id: uuid.UUID, **values: Any) -> Any:
    values["updated_at"] = dt.datetime.now(dt.timezone.utc)
    names = sorted(values)
    await db.execute(
        f"UPDATE data_subject_request SET {', '.join(f'{n} = {{}}' for n in names)}"
        " WHERE tenant_id = {} AND id = {}",
        *(values[n] for n in names), ctx.tenant_id, request_id,
    )
    return await find(ctx, request_id)


# --- intake --------------------------------------------------------------------


def identifier(ctx: TenantContext, email: Optional[str], phone: Optional[str]) -> tuple[str, str]:
    """(kind, normalised value) of the one identifier the person gave."""
    given = [(k, v) for k, v in (("email", email), ("phone", phone)) if v]
    if len(given) != 1:
        raise Invalid("give exactly one of email or phone",
                      errors=[{"field": "email", "message": "exactly one of email or phone"}])
    kind, value = given[0]
    try:
        return kind, normalise_email(value) if kind == "email" else normalise_phone(value, ctx.country)
    except ValueError as exc:
        raise invalid_field(kind, str(exc)) from None


async def contact_of(ctx: TenantContext, kind: str, value: str) -> Optional[Any]:
    """The contact on file for this identifier, if any (never shown before verification)."""
    return await db.fetchrow(
        f"SELECT id, email, phone, locale, language FROM contact"
        f" WHERE tenant_id = {{}} AND {kind} = {{}}",
        ctx.tenant_id, value,
    )


async def _env(ctx: TenantContext) -> tuple[TenantRecord, str, str]:
    """The tenant (names, settings) and the link settings, for e-mails."""
    tenant = await repository.tenant_by_id(ctx.tenant_id)
    if tenant is None:
        raise NotFound("tenant not found")
    settings = get_settings()
    return tenant, settings.secret_key, settings.public_url


async def receive(ctx: TenantContext, data: RequestIn, *, source: str) -> RequestOut:
    """Records a new request; sends the verification link unless the caller
    attests the person's identity. Raises Duplicate for an open one."""
    db.require_tenant(ctx.tenant_id)
    kind, value = identifier(ctx, data.email, data.phone)
    subject_hash = suppression.identifier_hash(await suppression.tenant_key(ctx.tenant_id), value)
    existing = await db.fetchval(_DUPLICATE, ctx.tenant_id, subject_hash, data.kind)
    if existing is not None:
        await record_event(ctx, db_uuid(existing), "duplicate_received", {"source": source})
        raise Duplicate("this person already has an open request of this kind",
                        existing_id=str(db_uuid(existing)))
    if data.kind != "rectification" and data.changes is not None:
        raise invalid_field("changes", "only a rectification request carries changes")
    changes = {} if data.changes is None else {
        k: v for k, v in msgspec.structs.asdict(data.changes).items() if v is not msgspec.UNSET}
    now = dt.datetime.now(dt.timezone.utc)
    request_id = uuid.uuid4()
    await db.execute(
        _INSERT, request_id, ctx.tenant_id, data.kind, source,
        value if kind == "email" else None, value if kind == "phone" else None, subject_hash,
        data.locale, data.note, json.dumps(changes), now, deadlines.due_at(now), now,
    )
    await record_event(ctx, request_id, "received", {"source": source, "kind": data.kind})
    tenant, secret_key, public_url = await _env(ctx)
    if data.identity_verified:
        await attest(ctx, request_id, "attested by the caller" if source == "api" else "")
    else:
        await send_verification(ctx, tenant, await find(ctx, request_id), kind, value,
                                secret_key=secret_key, public_url=public_url)
    return await get_request(ctx, request_id)


async def send_verification(ctx: TenantContext, tenant: TenantRecord, request: Any, kind: str,
                            value: str, *, secret_key: str, public_url: str) -> bool:
    """E-mails the verification link to the address given, or for a phone to
    the contact's address on file. Known or not, the e-mail is the same."""
    to = value if kind == "email" else None
    if to is None:
        contact = await contact_of(ctx, kind, value)
        to = contact["email"] if contact is not None else None
    if to is None:  # nowhere to send a link: staff must check who the person is
        await record_event(ctx, db_uuid(request["id"]), "verification_needs_staff")
        return False
    hours = int(tenant.settings.get("request_verification_hours") or VERIFY_HOURS)
    expires = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=hours)
    token = links.make(secret_key, "verify", ctx.tenant_id, db_uuid(request["id"]), expires)
    await mail.send(tenant, request, to, "verify", secret_key=secret_key, public_url=public_url,
                    link=f"{public_url}/p/requests/verify/{token}", expires=expires)
    await record_event(ctx, db_uuid(request["id"]), "verification_sent",
                       {"to": "address given" if kind == "email" else "address on file"})
    return True


async def _match_contact(ctx: TenantContext, request: Any) -> Optional[uuid.UUID]:
    kind = "email" if request["email"] else "phone"
    value = request[kind]
    if value is None:
        return None
    contact = await contact_of(ctx, kind, value)
    return None if contact is None else db_uuid(contact["id"])


async def _verified(ctx: TenantContext, request: Any, how: str, details: dict[str, Any]) -> Any:
    if request["status"] != "unverified":
        raise Conflict(f"the request is {request['status']}, not awaiting verification")
    request_id = db_uuid(request["id"])
    row = await _update(ctx, request_id, status="verified", verification=how,
                        verified_at=dt.datetime.now(dt.timezone.utc),
                        contact_id=await _match_contact(ctx, request))
    await record_event(ctx, request_id, "verified", {"by": how, **details})
    return row


async def attest(ctx: TenantContext, request_id: uuid.UUID, note: str = "") -> RequestOut:
    """Staff (or an integrator) vouch for the person's identity: recorded as such."""
    request = await find(ctx, request_id)
    how = "staff" if ctx.actor.startswith("staff:") else "api"
    await _verified(ctx, request, how, {"note_given": bool(note)})
    if note:
        await _update(ctx, request_id, note=(request["note"] + "\n" if request["note"] else "")
                      + f"[identity] {note}")
    return await get_request(ctx, request_id)


async def verify_by_link(ctx: TenantContext, link: links.Link, now: dt.datetime) -> Any:
    request = await find(ctx, link.subject_id)
    if request["status"] != "unverified":
        return request  # already verified (or closed): the status page says where it stands
    if link.expires_at <= now:
        raise LinkGone("this link has expired; please send your request again")
    return await _verified(ctx, request, "link", {})


# --- deadlines -----------------------------------------------------------------


async def extend(ctx: TenantContext, request_id: uuid.UUID, data: ExtendIn) -> RequestOut:
    request = await find(ctx, request_id)
    if request["status"] not in OPEN:
        raise Conflict(f"the request is {request['status']}")
    tenant, secret_key, public_url = await _env(ctx)
    now = dt.datetime.now(dt.timezone.utc)
    try:
        total = deadlines.extend(request["received_at"], request["extended_months"],
                                 data.months, now)
    except deadlines.ExtensionRefused as exc:
        raise Conflict(str(exc)) from None
    row = await _update(ctx, request_id, extended_months=total, extension_reason=data.reason,
                        due_at=deadlines.due_at(request["received_at"], total))
    await record_event(ctx, request_id, "extended", {"months": data.months, "total": total})
    to = await recipient(ctx, row)
    if to:  # Art. 12(3): the person is told, with the reasons, within the first month
        await mail.send(tenant, row, to, "extended", secret_key=secret_key,
                        public_url=public_url, due=row["due_at"], reason=data.reason)
        await record_event(ctx, request_id, "person_informed", {"of": "extension"})
    return await get_request(ctx, request_id)


async def recipient(ctx: TenantContext, request: Any) -> Optional[str]:
    if request["email"]:
        return request["email"]
    if request["contact_id"] is not None:
        return await db.fetchval("SELECT email FROM contact WHERE tenant_id = {} AND id = {}",
                                 ctx.tenant_id, request["contact_id"])
    return None


# --- closing -------------------------------------------------------------------


async def complete(ctx: TenantContext, request_id: uuid.UUID, data: CloseIn) -> RequestOut:
    request = await find(ctx, request_id)
    if request["status"] == "unverified":
        raise Conflict("the person's identity is not verified yet")
    if request["status"] != "verified":
        raise Conflict(f"the request is already {request['status']}")
    if request["contact_id"] is None:  # they may have joined the base since
        matched = await _match_contact(ctx, request)
        if matched is not None:
            request = await _update(ctx, request_id, contact_id=matched)
    to = await recipient(ctx, request)
    tenant, secret_key, public_url = await _env(ctx)
    outcome = await execution.execute(ctx, request, data, tenant=tenant)
    now = dt.datetime.now(dt.timezone.utc)
    values: dict[str, Any] = {"status": "completed", "closed_at": now,
                              "outcome": data.reason or outcome.summary}
    if outcome.package is not None:
        days = int(tenant.settings.get("package_days") or execution.PACKAGE_DAYS)
        values |= {"package": outcome.package, "package_expires_at": now + dt.timedelta(days=days)}
    row = await _update(ctx, request_id, **values)
    await record_event(ctx, request_id, "completed", outcome.details)
    if request["kind"] == "erasure":
        await scrub.scrub_identity(ctx, request["subject_hash"], [request["email"], request["phone"]])
        to = None  # nothing may keep the address, not even an e-mail waiting to go
    await notify.request_completed(ctx, request_id, request["kind"], "completed")
    if to:
        extra = ""
        if outcome.package is not None:
            token = links.make(secret_key, "package", ctx.tenant_id, request_id,
                               row["package_expires_at"])
            extra = mail.package_paragraph(row, tenant, f"{public_url}/p/requests/package/{token}",
                                           row["package_expires_at"])
        await mail.send(tenant, row, to, "completed", secret_key=secret_key,
                        public_url=public_url, outcome=f"{values['outcome']}\n\n{extra}")
        await record_event(ctx, request_id, "person_informed", {"of": "completion"})
    return await get_request(ctx, request_id)


async def reject(ctx: TenantContext, request_id: uuid.UUID, data: CloseIn) -> RequestOut:
    request = await find(ctx, request_id)
    if request["status"] not in OPEN:
        raise Conflict(f"the request is already {request['status']}")
    if not data.reason:
        raise invalid_field("reason", "say why the request is refused (the person is told)")
    tenant, secret_key, public_url = await _env(ctx)
    row = await _update(ctx, request_id, status="rejected", outcome=data.reason,
                        closed_at=dt.datetime.now(dt.timezone.utc))
    await record_event(ctx, request_id, "rejected", {})
    await notify.request_completed(ctx, request_id, request["kind"], "rejected")
    to = await recipient(ctx, row)
    if to and row["status"] == "rejected":
        await mail.send(tenant, row, to, "rejected", secret_key=secret_key,
                        public_url=public_url, reason=data.reason)
        await record_event(ctx, request_id, "person_informed", {"of": "rejection"})
    return await get_request(ctx, request_id)


# --- packages ------------------------------------------------------------------


async def package_of(ctx: TenantContext, request_id: uuid.UUID,
                     now: Optional[dt.datetime] = None) -> tuple[Any, bytes]:
    now = now or dt.datetime.now(dt.timezone.utc)
    request = await find(ctx, request_id)
    if request["kind"] not in ("access", "portability") or request["status"] != "completed":
        raise NotFound("no package for this request")
    data = await db.fetchval(
        "SELECT package FROM data_subject_request WHERE tenant_id = {} AND id = {}",
        ctx.tenant_id, request_id,
    )
    if data is None or request["package_expires_at"] is None or request["package_expires_at"] <= now:
        raise LinkGone("the package has expired")
    return request, bytes(data)


async def tenant_context(tenant_id: uuid.UUID, actor: str = "subject") -> tuple[TenantContext, TenantRecord]:
    tenant = await repository.tenant_by_id(tenant_id)
    if tenant is None:
        raise NotFound("this link is not valid")
    return (TenantContext(tenant_id=tenant.id, tenant_slug=tenant.slug, actor=actor,
                          scopes=frozenset(), country=tenant.country), tenant)
