"""Admin forms for the suppression list: look a person up by address, list them,
take them off with a reason — through consent.suppression and
consent.suppression_list, exactly as `POST`/`DELETE /v1/suppressions` do, with
the staff member as the audited actor. The table view (read-only) lists the
entries by hash, channel, reason and date; addresses are never stored.

Any role may look up; adding takes a role that writes contacts; lifting an entry
lifts a legal block, so it takes owner, manager or DPO. Another tenant's slug
reads as unknown, and its list is never consulted.
"""

from __future__ import annotations

import uuid
from typing import Literal

from piccolo_admin.endpoints import FormConfig
from pydantic import BaseModel, Field
from starlette.requests import Request

from admin.forms import managed_tenant
from admin.look import say
from admin.request_forms import run_acting
from admin.scope import MANAGERS, ROLES, WRITERS, current_scope
from consent import suppression, suppression_list
from consent.schemas import SuppressionEntryOut, SuppressionIn, SuppressionRemoveIn
from optinbase.i18n import N_

Channel = Literal["all", "email", "sms", "phone", "postal", "social_ads", "push"]
Reason = Literal["objection", "complaint", "bounce", "manual", "erasure"]
EVERY = "every entry"


class Person(BaseModel):
    tenant: str = Field(default="", description="Tenant slug (blank: your only tenant)")
    email: str = Field(default="", max_length=254)
    phone: str = Field(default="", max_length=32)


class NewSuppression(Person):
    channel: Channel = Field(default="all", description='"all": no channel at all')
    reason: Reason = "objection"


class Lifting(Person):
    channel: Literal["every entry", "all", "email", "sms", "phone", "postal", "social_ads",
                     "push"] = EVERY
    reason: str = Field(min_length=1, max_length=500,
                        description="Why the person may be contacted again (audited)")


async def _tenant(data: Person, allowed: frozenset[str], doing: str) -> uuid.UUID:
    return await managed_tenant(current_scope.get(), data.tenant, allowed, doing)


def _identifiers(data: Person) -> dict[str, str | None]:
    return {"email": data.email.strip() or None, "phone": data.phone.strip() or None}


def _entries(entries: list[SuppressionEntryOut]) -> str:
    return "; ".join(say("admin.form.entry", channel=e.channel, reason=e.reason,
                         day=f"{e.created_at:%Y-%m-%d}", hash=e.identifier_hash[:12])
                     for e in entries)


async def look_up(request: Request, data: Person) -> str:
    tenant_id = await _tenant(data, ROLES, N_("admin.doing.read_suppressions"))
    entries = await run_acting(tenant_id, lambda ctx: suppression_list.entries_of(
        ctx, **_identifiers(data)))
    if not entries:
        return say("admin.contact.not_suppressed")
    return say("admin.form.listed", entries=_entries(entries))


async def add(request: Request, data: NewSuppression) -> str:
    tenant_id = await _tenant(data, WRITERS, N_("admin.doing.add_suppression"))
    body = SuppressionIn(reason=data.reason, channel=data.channel, **_identifiers(data))
    out = await run_acting(tenant_id, lambda ctx: suppression.add(ctx, body))
    return say("admin.form.listed_for", channel=out.channel, reason=out.reason)


async def lift(request: Request, data: Lifting) -> str:
    tenant_id = await _tenant(data, MANAGERS, N_("admin.doing.lift_suppression"))
    body = SuppressionRemoveIn(reason=data.reason, channel=None if data.channel == EVERY
                               else data.channel, **_identifiers(data))
    removed = await run_acting(tenant_id, lambda ctx: suppression_list.remove(ctx, body))
    return say("admin.form.removed", entries=_entries(removed))


GROUP = "Suppression list"
FORMS = [
    FormConfig(name="Look up suppression", pydantic_model=Person, endpoint=look_up,
               description="Is this address or phone on the list, for which channels?",
               form_group=GROUP),
    FormConfig(name="Add suppression", pydantic_model=NewSuppression, endpoint=add,
               description="Never contact this person on the channel; imports skip them.",
               form_group=GROUP),
    FormConfig(name="Remove suppression", pydantic_model=Lifting, endpoint=lift,
               description="Owners, managers and the DPO; the reason is audited.",
               form_group=GROUP),
]
