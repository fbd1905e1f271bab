"""Admin forms for data-subject requests: record one (staff intake), attest the
person's identity, extend the deadline, complete, reject — each through
consent.requests (intake, lifecycle), exactly as the API does, with the staff user as actor.

A request is named by its id; one the user cannot see reads as unknown.
Handling requests takes owner, manager or dpo; completing an erasure takes
owner or dpo (as deleting a contact does).
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any, Literal, Optional

import msgspec
from piccolo_admin.endpoints import FormConfig
from pydantic import BaseModel, BeforeValidator, Field
from starlette.requests import Request

from admin.forms import managed_tenant
from admin.look import say
from admin.scope import ERASERS, MANAGERS, acting, current_scope
from consent import erasure
from consent.requests import intake, lifecycle
from consent.requests.records import OPEN_SQL
from consent.requests.schemas import CloseIn, ExtendIn, Kind, RequestIn, RequestOut
from consent.schemas import ContactPatch
from optinbase import db
from optinbase.errors import DomainError


async def _by_email(table: str, noun: str, email: str, only: str) -> uuid.UUID:
    """The one `table` row of this e-mail address among the user's tenants
    (`only`: an extra SQL condition, e.g. open requests)."""
    found = []
    for tenant_id in current_scope.get().tenant_ids:
        rows = await db.fetch(
            f"SELECT id FROM {table} WHERE tenant_id = {{}} AND lower(email) = {{}}{only}",
            tenant_id, email.strip().lower(),
        )
        found += [r["id"] for r in rows]
    if not found:
        raise ValueError(say(f"admin.form.{noun}.none_for", email=email.strip()))
    if len(found) > 1:
        raise ValueError(say(f"admin.form.{noun}.several", email=email.strip()))
    return found[0]


async def _visible_row(table: str, noun: str, raw_id: str, columns: str = "tenant_id",
                       only: str = "") -> tuple:
    """(id, tenant id, row) of a `table` row the user may see, named in a form
    by its id (picked from the list) or by the person's e-mail address;
    unknown and foreign rows read the same (and RLS hides foreign rows anyway)."""
    try:
        wanted = (await _by_email(table, noun, raw_id, only) if "@" in raw_id
                  else uuid.UUID(raw_id.strip()))
    except ValueError:
        if "@" in raw_id:
            raise
        raise ValueError(say(f"admin.form.{noun}.pick")) from None
    row = await db.fetchrow(f"SELECT {columns} FROM {table} WHERE id = {{}}", wanted)
    if row is None or not current_scope.get().sees(row["tenant_id"]):
        raise ValueError(say(f"admin.form.{noun}.unknown", id=raw_id.strip()))
    tenant_id = row["tenant_id"] if isinstance(row["tenant_id"], uuid.UUID) else uuid.UUID(
        str(row["tenant_id"]))
    return wanted, tenant_id, row


async def _request_tenant(request_id: str, allowed: frozenset[str] = MANAGERS) -> tuple:
    wanted, tenant_id, row = await _visible_row("data_subject_request", "request", request_id,
                                                "tenant_id, kind", f" AND status IN {OPEN_SQL}")
    scope = current_scope.get()
    if not scope.may(tenant_id, allowed):
        raise ValueError(say("admin.form.role", doing=say("admin.doing.requests")))
    return wanted, tenant_id, row["kind"]


def _said(out: RequestOut, verb: str) -> str:
    """`verb`: what was done, already in the request's language."""
    return say("admin.form.request_said", id=out.id, kind=out.kind, verb=verb,
               status=out.status, due=out.due_at)


async def run_acting(tenant_id: uuid.UUID, call) -> Any:
    """`call(ctx)`, a service call acting for this tenant, its refusals turned
    into form errors."""
    try:
        async with acting(current_scope.get(), tenant_id) as ctx:
            return await call(ctx)
    except DomainError as exc:
        raise ValueError(exc.detail) from None
    except msgspec.ValidationError as exc:
        raise ValueError(str(exc)) from None


class NewRequest(BaseModel):
    tenant: str = Field(default="", description="Tenant slug (blank: your only tenant)")
    kind: Kind
    email: str = Field(default="", max_length=254)
    phone: str = Field(default="", max_length=32)
    identity_checked: bool = Field(
        default=False, description="You checked who the person is (recorded as staff-attested);"
                                   " otherwise a verification link is e-mailed")
    note: str = Field(default="", max_length=5000)


async def record_request(request: Request, data: NewRequest) -> str:
    scope = current_scope.get()
    tenant_id = await managed_tenant(scope, data.tenant)
    payload = RequestIn(kind=data.kind, email=data.email or None, phone=data.phone or None,
                        identity_verified=data.identity_checked, note=data.note)
    out = await run_acting(tenant_id, lambda ctx: intake.receive(ctx, payload, source="staff"))
    return _said(out, say("admin.verb.recorded"))


Picked = Annotated[str, Field(description="Pick the request, or type the person's e-mail")]


class RequestNote(BaseModel):
    request_id: Picked
    how_identity_was_checked: str = Field(min_length=1, max_length=2000)


async def verify_request(request: Request, data: RequestNote) -> str:
    request_id, tenant_id, _ = await _request_tenant(data.request_id)
    out = await run_acting(tenant_id, lambda ctx: intake.attest(ctx, request_id,
                                                       data.how_identity_was_checked))
    return _said(out, say("admin.verb.verified"))


def _whole_number(value: Any) -> Any:
    """The admin's form posts every field as text ("1"); a choice between the
    numbers 1 and 2 must accept that, or every submission fails."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return value


class Extension(BaseModel):
    request_id: Picked
    months: Annotated[Literal[1, 2], BeforeValidator(_whole_number)] = 1
    reason: str = Field(min_length=1, max_length=2000,
                        description="Told to the person by e-mail (GDPR Art. 12(3))")


async def extend_request(request: Request, data: Extension) -> str:
    request_id, tenant_id, _ = await _request_tenant(data.request_id)
    body = ExtendIn(months=data.months, reason=data.reason)
    out = await run_acting(tenant_id, lambda ctx: lifecycle.extend(ctx, request_id, body))
    return _said(out, say("admin.verb.extended", n=data.months))


class Completion(BaseModel):
    request_id: Picked
    reason: str = Field(default="", max_length=2000, description="What was done (told to the person)")
    changes: str = Field(default="", description='Rectification only: JSON of approved changes,'
                                                  ' e.g. {"first_name": "Anne"}')


async def complete_request(request: Request, data: Completion) -> str:
    request_id, tenant_id, kind = await _request_tenant(data.request_id)
    if kind == "erasure" and not current_scope.get().may(tenant_id, ERASERS):
        raise ValueError(say("admin.form.erasure_role"))
    changes: Optional[ContactPatch] = None
    if data.changes.strip():
        try:
            changes = msgspec.convert(json.loads(data.changes), ContactPatch)
        except (ValueError, msgspec.ValidationError) as exc:
            raise ValueError(f"changes: {exc}") from None
    body = CloseIn(reason=data.reason, changes=changes)
    out = await run_acting(tenant_id, lambda ctx: lifecycle.complete(ctx, request_id, body))
    return _said(out, say("admin.verb.completed"))


class Rejection(BaseModel):
    request_id: Picked
    reason: str = Field(min_length=1, max_length=2000, description="Told to the person by e-mail")


async def reject_request(request: Request, data: Rejection) -> str:
    request_id, tenant_id, _ = await _request_tenant(data.request_id)
    out = await run_acting(tenant_id, lambda ctx: lifecycle.reject(ctx, request_id, CloseIn(reason=data.reason)))
    return _said(out, say("admin.verb.rejected"))


class Erasure(BaseModel):
    contact_id: str = Field(description="The contact's e-mail address (or its id)")
    confirm: bool = Field(default=False, description="I understand this cannot be undone")


async def erase_contact_form(request: Request, data: Erasure) -> str:
    """The same erasure as deleting the contact, or an erasure request: only
    the keyed hash stays, on the suppression list and the person's requests."""
    contact_id, tenant_id, _ = await _visible_row("contact", "contact", data.contact_id)
    scope = current_scope.get()
    if not scope.may(tenant_id, ERASERS):
        raise ValueError(say("admin.form.erasure_role"))
    if not data.confirm:
        raise ValueError(say("admin.form.tick"))
    await run_acting(tenant_id, lambda ctx: erasure.erase_contact(ctx, contact_id))
    return say("admin.form.erased", id=contact_id)


GROUP = "Data-subject requests"
FORMS = [
    FormConfig(name="Record a request", pydantic_model=NewRequest, endpoint=record_request,
               description="A request received by post, phone or at the counter.",
               form_group=GROUP),
    FormConfig(name="Verify identity", pydantic_model=RequestNote, endpoint=verify_request,
               description="Record that you checked who the person is, and how.",
               form_group=GROUP),
    FormConfig(name="Extend deadline", pydantic_model=Extension, endpoint=extend_request,
               description="Only within the first month; two further months at most.",
               form_group=GROUP),
    FormConfig(name="Complete request", pydantic_model=Completion, endpoint=complete_request,
               description="Carries the request out (package, withdrawal, erasure, ...).",
               form_group=GROUP),
    FormConfig(name="Reject request", pydantic_model=Rejection, endpoint=reject_request,
               form_group=GROUP),
    FormConfig(name="Erase contact", pydantic_model=Erasure, endpoint=erase_contact_form,
               description="GDPR Art. 17. Owners and the DPO only.", form_group=GROUP),
]
