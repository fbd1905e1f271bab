"""An open request moves on: its deadline is extended, or it is completed (the
kind is carried out, consent.requests.execution) or rejected. Each step locks
the request row, checks its status, and leaves an event in the trail; the
person is told by e-mail wherever an address is known."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from consent.ledger import notify
from consent.requests import deadlines, execution, links, mail, scrub
from consent.requests.intake import match_contact_if_missing
from consent.requests.records import (
    LinkGone,
    find,
    get_request,
    mailing,
    recipient,
    record_event,
    update,
)
from consent.requests.schemas import OPEN, CloseIn, ExtendIn, RequestOut
from optinbase import db
from optinbase.context import TenantContext
from optinbase.errors import Conflict, NotFound, invalid_field
from optinbase.i18n import N_


async def extend(ctx: TenantContext, request_id: uuid.UUID, data: ExtendIn) -> RequestOut:
    request = await find(ctx, request_id, lock=True)
    if request["status"] not in OPEN:
        raise Conflict(f"the request is {request['status']}")
    now = dt.datetime.now(dt.timezone.utc)
    try:
        total = deadlines.extend(request["received_at"], request["extended_months"],
                                 data.months, now)
    except deadlines.ExtensionRefused as exc:
        raise Conflict(str(exc)) from None
    row = await update(ctx, request_id, extended_months=total, extension_reason=data.reason,
                       due_at=deadlines.due_at(request["received_at"], total))
    await record_event(ctx, request_id, "extended", {"months": data.months, "total": total})
    to = await recipient(ctx, row)
    if not to:  # Art. 12(3) wants the person told: staff must do it another way
        await record_event(ctx, request_id, "person_not_informed", {"of": "extension"})
        return await get_request(ctx, request_id)
    tenant, secret_key, public_url = await mailing(ctx.tenant_id)
    await mail.send(tenant, row, to, "extended", secret_key=secret_key, public_url=public_url,
                    due=row["due_at"], reason=data.reason)
    await record_event(ctx, request_id, "person_informed", {"of": "extension"})
    return await get_request(ctx, request_id)


async def complete(ctx: TenantContext, request_id: uuid.UUID, data: CloseIn) -> RequestOut:
    request = await find(ctx, request_id, lock=True)
    if request["status"] == "unverified":
        raise Conflict("the person's identity is not verified yet")
    if request["status"] != "verified":
        raise Conflict(f"the request is already {request['status']}")
    request = await match_contact_if_missing(ctx, request)
    to = await recipient(ctx, request)
    tenant, secret_key, public_url = await mailing(ctx.tenant_id)
    outcome = await execution.execute(ctx, request, data, tenant=tenant)
    texts = mail.texts_for(request, tenant)
    summary = texts(mail.OUTCOMES[outcome.key])
    now = dt.datetime.now(dt.timezone.utc)
    values: dict[str, Any] = {"status": "completed", "closed_at": now,
                              "outcome": data.reason or summary}
    if outcome.package is not None:
        days = int(tenant.settings.get("package_days") or execution.PACKAGE_DAYS)
        values |= {"package": outcome.package, "package_expires_at": now + dt.timedelta(days=days)}
    if request["kind"] == "erasure":
        # Nothing may keep the person's words or address, not even an e-mail
        # waiting to go (nor staff's free text): the status page tells them it is done.
        await scrub.scrub_identity(ctx, request["subject_hash"], [request["email"], request["phone"]])
        values["outcome"] = summary
    row = await update(ctx, request_id, **values)
    await record_event(ctx, request_id, "completed", outcome.details)
    await notify.request_completed(ctx, request_id, request["kind"], "completed")
    if request["kind"] == "erasure":
        await record_event(ctx, request_id, "person_not_informed", {"of": "completion",
                                                                     "why": "erased"})
        return await get_request(ctx, request_id)
    if to:
        extra = ""
        if outcome.package is not None:
            token = links.make(secret_key, "package", ctx.tenant_id, request_id,
                               row["package_expires_at"])
            extra = texts.gettext("mail.request.package", expires=row["package_expires_at"],
                                  link=f"{public_url}/p/requests/package/{token}")
        await mail.send(tenant, row, to, "completed", secret_key=secret_key, texts=texts,
                        public_url=public_url, outcome=f"{values['outcome']}\n\n{extra}")
        await record_event(ctx, request_id, "person_informed", {"of": "completion"})
    return await get_request(ctx, request_id)


async def reject(ctx: TenantContext, request_id: uuid.UUID, data: CloseIn) -> RequestOut:
    request = await find(ctx, request_id, lock=True)
    if request["status"] not in OPEN:
        raise Conflict(f"the request is already {request['status']}")
    if not data.reason:
        raise invalid_field("reason", "say why the request is refused (the person is told)")
    row = await update(ctx, request_id, status="rejected", outcome=data.reason,
                       closed_at=dt.datetime.now(dt.timezone.utc))
    await record_event(ctx, request_id, "rejected", {})
    await notify.request_completed(ctx, request_id, request["kind"], "rejected")
    to = await recipient(ctx, row)
    if to:
        tenant, secret_key, public_url = await mailing(ctx.tenant_id)
        await mail.send(tenant, row, to, "rejected", secret_key=secret_key,
                        public_url=public_url, reason=data.reason)
        await record_event(ctx, request_id, "person_informed", {"of": "rejection"})
    return await get_request(ctx, request_id)


async def package_of(ctx: TenantContext, request_id: uuid.UUID,
                     now: dt.datetime | None = None) -> tuple[Any, bytes]:
    """(request, zip) of a completed access or portability request, while it lasts."""
    now = now or dt.datetime.now(dt.timezone.utc)
    request = await find(ctx, request_id)
    if request["kind"] not in ("access", "portability") or request["status"] != "completed":
        raise NotFound("no package for this request", msgid=N_("error.no_package"),
                       person=mail.person_of(request))
    data = await db.fetchval(
        "SELECT package FROM data_subject_request WHERE tenant_id = {} AND id = {}",
        ctx.tenant_id, request["id"],
    )
    if data is None or request["package_expires_at"] is None or request["package_expires_at"] <= now:
        raise LinkGone("the package has expired", msgid=N_("error.package_expired"),
                       person=mail.person_of(request))
    return request, bytes(data)
