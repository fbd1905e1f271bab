"""Admin form: a tenant's branding and the legal information its subscriber
pages show (GDPR Art. 13), through the same service and the same validation
as `PATCH /v1/tenant` (tenants.schemas.TenantPatch): a colour that is not
#rrggbb or a `javascript:` logo is refused here exactly as in the API.

A blank field leaves the value as it is; `-` clears it. Owners, managers
and DPOs may change it (MANAGERS); the change is audited with the staff user.
"""

from __future__ import annotations

from typing import Any

import msgspec
from piccolo_admin.endpoints import FormConfig
from pydantic import BaseModel, Field, create_model
from starlette.requests import Request

from admin.forms import managed_tenant
from admin.look import say
from admin.request_forms import run_acting
from admin.scope import MANAGERS, current_scope
from optinbase.i18n import N_
from tenants import service
from tenants.schemas import TenantPatch

CLEAR = "-"
PROFILE = ("legal_name", "dpo_email")


# Field: (longest value, what the form says about it). All text: blank keeps.
FIELDS = {
    "legal_name": (200, "The controller's legal name"),
    "address": (500, "The controller's postal address"),
    "dpo_name": (200, "Data protection officer"),
    "dpo_email": (254, "The DPO's e-mail address"),
    "dpo_address": (500, "The DPO's postal address"),
    "policy_url": (2000, "Privacy policy (https://…)"),
    "logo_url": (2000, "Logo image (https://…)"),
    "primary_color": (7, "Buttons and links, #rrggbb"),
    "accent_color": (7, "The header's band, #rrggbb"),
    "sender_name": (100, "Name e-mails come from"),
    "reply_to": (254, "Where replies to e-mails go"),
    "footer_text": (1000, "Under every page and e-mail"),
}
Branding = create_model(
    "Branding",
    tenant=(str, Field(default="", description="Tenant slug (blank: your only tenant)")),
    **{name: (str, Field(default="", max_length=longest, description=about))
       for name, (longest, about) in FIELDS.items()},
)


def patch_of(data: BaseModel) -> TenantPatch:
    """The form as a TenantPatch: blank = unchanged, `-` = cleared; refused
    with the API's own validation message."""
    given = {k: ("" if v.strip() == CLEAR else v.strip())
             for k, v in data.model_dump(exclude={"tenant"}).items() if v.strip()}
    body: dict[str, Any] = {k: v for k, v in given.items() if k in PROFILE}
    settings = {k: v for k, v in given.items() if k not in PROFILE}
    if settings:
        body["settings"] = settings
    try:
        return msgspec.convert(body, TenantPatch)
    except msgspec.ValidationError as exc:
        raise ValueError(str(exc).replace("$.settings.", "").replace("$.", "")) from None


async def save_branding(request: Request, data: Branding) -> str:  # type: ignore[valid-type]
    tenant_id = await managed_tenant(current_scope.get(), data.tenant, MANAGERS,
                                     N_("admin.doing.branding"))
    patch = patch_of(data)
    record = await run_acting(tenant_id, lambda ctx: service.update_tenant(ctx, patch))
    return say("admin.form.branding_saved", tenant=record.name)


FORMS = [
    FormConfig(name="Branding and legal information", pydantic_model=Branding,
               endpoint=save_branding, form_group="Tenant settings",
               description="Logo, colours, sender, footer, controller and DPO shown on the "
                           "subscriber pages and e-mails. Blank keeps a value; - clears it."),
]
