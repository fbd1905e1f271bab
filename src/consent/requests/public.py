"""What the public request pages do: the form, verification, status, package.

The form answers the same thing whatever happens behind it — new request,
duplicate, address known or not — and the e-mail it triggers reads the same:
nobody learns from it whether an address is in the base. Every link carries its
tenant; a page runs in that tenant's transaction only.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Optional

import msgspec
from msgspec import Meta

from consent.requests import intake, lifecycle, links
from consent.requests.mail import language_of, person_of, status_url
from consent.requests.records import (
    Duplicate,
    LinkGone,
    find,
    record_event,
)
from consent.requests.schemas import KIND_NAMES, KINDS, Kind, RequestIn
from optinbase import db, i18n
from optinbase.context import TenantContext
from optinbase.i18n import N_
from optinbase.settings import get_settings
from tenants.repository import TenantRecord

# Where a request stands, as its page says it (messages of optinbase.i18n).
STATE_NAMES = {
    "unverified": N_("request.state.unverified"), "verified": N_("request.state.verified"),
    "completed": N_("request.state.completed"), "rejected": N_("request.state.rejected"),
    "lapsed": N_("request.state.lapsed"),
}


class PublicRequestIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    kind: Kind
    email: Annotated[str, Meta(min_length=1, max_length=254)]
    note: Annotated[str, Meta(max_length=5000)] = ""


class FormView(msgspec.Struct, kw_only=True):
    tenant: str
    language: str  # nobody is known yet: the browser's, else the tenant's
    kinds: list[tuple[str, str]]  # (kind, its name in the page's language)


class RequestView(msgspec.Struct, kw_only=True):
    """`state`: pending (verify button) | verified | completed | rejected |
    lapsed | unverified (status of a request not yet verified)."""

    state: str
    tenant: str
    language: str
    kind: str
    kind_name: str
    received_at: dt.datetime
    due_at: dt.datetime
    outcome: str = ""
    package_url: Optional[str] = None
    package_expires_at: Optional[dt.datetime] = None
    status_url: Optional[str] = None


def form(tenant: TenantRecord, accept_language: str) -> FormView:
    language = i18n.choose(tenant, accept_language=accept_language)
    texts = i18n.texts(language, tenant)
    return FormView(tenant=tenant.name, language=language,
                    kinds=[(k, texts(KIND_NAMES[k])) for k in KINDS])


async def submit(ctx: TenantContext, data: PublicRequestIn, language: str) -> None:
    """Records the request and e-mails a verification link; a duplicate gets
    its link again. Returns nothing either way: the page must not tell."""
    try:
        await intake.receive(
            ctx, RequestIn(kind=data.kind, email=data.email, note=data.note, locale=language),
            source="public")
    except Duplicate as duplicate:
        _, email = intake.identifier(ctx, data.email, None)
        await intake.again_from_the_form(ctx, uuid.UUID(duplicate.extra["existing_id"]), email)


async def _view(ctx, tenant, request, state: Optional[str] = None) -> RequestView:
    settings = get_settings()
    language = language_of(request, tenant)
    package_url = None
    expires = request["package_expires_at"]
    now = dt.datetime.now(dt.timezone.utc)
    if request["status"] == "completed" and expires is not None and expires > now:
        token = links.make(settings.secret_key, "package", tenant.id, request["id"], expires)
        package_url = f"{settings.public_url}/p/requests/package/{token}"
    return RequestView(
        state=state or request["status"], tenant=tenant.name, language=language,
        kind=request["kind"], kind_name=i18n.texts(language, tenant)(KIND_NAMES[request["kind"]]),
        received_at=request["received_at"], due_at=request["due_at"],
        outcome=request["outcome"] if request["status"] in ("completed", "rejected") else "",
        package_url=package_url, package_expires_at=expires if package_url else None,
        status_url=status_url(settings.secret_key, settings.public_url, tenant.id, request),
    )


async def _person(ctx: TenantContext, request_id) -> Optional[tuple[Optional[str]]]:
    """Whom a link is for (None: no such request), so that an error page about
    their request speaks their language too."""
    row = await db.fetchrow("SELECT locale FROM data_subject_request WHERE tenant_id = {}"
                            " AND id = {}", ctx.tenant_id, request_id)
    return None if row is None else person_of(row)


async def show_verify(ctx: TenantContext, tenant: TenantRecord, token: str) -> RequestView:
    """GET: shows the button; changes nothing (mail scanners open links)."""
    link = links.open_for(ctx, token, "verify")
    request = await find(ctx, link.subject_id)
    state = "pending" if request["status"] == "unverified" else None
    if state == "pending" and link.expires_at <= dt.datetime.now(dt.timezone.utc):
        raise LinkGone("this link has expired; please send your request again",
                       msgid=N_("error.request_link_expired"), person=person_of(request))
    return await _view(ctx, tenant, request, state)


async def verify(ctx: TenantContext, tenant: TenantRecord, token: str) -> RequestView:
    link = links.open_for(ctx, token, "verify")
    request = await intake.verify_by_link(ctx, link, dt.datetime.now(dt.timezone.utc))
    return await _view(ctx, tenant, request)


async def status(ctx: TenantContext, tenant: TenantRecord, token: str) -> RequestView:
    link = links.open_for(ctx, token, "status")
    if link.expires_at <= dt.datetime.now(dt.timezone.utc):
        raise LinkGone("this link has expired", msgid=N_("error.link_expired"),
                       person=await _person(ctx, link.subject_id))
    return await _view(ctx, tenant, await find(ctx, link.subject_id))


async def package(ctx: TenantContext, tenant: TenantRecord, token: str) -> tuple[str, bytes]:
    """(file name, zip bytes); each download is an event of the request's trail."""
    link = links.open_for(ctx, token, "package")
    now = dt.datetime.now(dt.timezone.utc)
    if link.expires_at <= now:
        raise LinkGone("this download link has expired", msgid=N_("error.package_expired"),
                       person=await _person(ctx, link.subject_id))
    request, data = await lifecycle.package_of(ctx, link.subject_id, now)
    await record_event(ctx, link.subject_id, "package_downloaded", {"by": "subject"})
    return f"{tenant.slug}-{request['kind']}-{str(request['id'])[:8]}.zip", data

