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
from pydantic import BaseModel, Field
from starlette.requests import Request

from admin.forms import managed_tenant
from admin.request_forms import _run
from admin.scope import current_scope
from tenants import service
from tenants.schemas import TenantPatch

CLEAR = "-"
PROFILE = ("legal_name", "dpo_email")


class Branding(BaseModel):
    tenant: str = Field(default="", description="Tenant slug (blank: your only tenant)")
    legal_name: str = Field(default="", max_length=200, description="The controller's legal name")
    address: str = Field(default="", max_length=500, description="The controller's postal address")
    dpo_name: str = Field(default="", max_length=200, description="Data protection officer")
    dpo_email: str = Field(default="", max_length=254, description="The DPO's e-mail address")
    dpo_address: str = Field(default="", max_length=500, description="The DPO's postal address")
    policy_url: str = Field(default="", max_length=2000, description="Privacy policy (https://…)")
    logo_url: str = Field(default="", max_length=2000, description="Logo image (https://…)")
    primary_color: str = Field(default="", max_length=7, description="Buttons and links, #rrggbb")
    accent_color: str = Field(default="", max_length=7, description="The header's band, #rrggbb")
    sender_name: str = Field(default="", max_length=100, description="Name e-mails come from")
    reply_to: str = Field(default="", max_length=254, description="Where replies to e-mails go")
    footer_text: str = Field(default="", max_length=1000, description="Under every page and e-mail")


def patch_of(data: Branding) -> TenantPatch:
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


async def save_branding(request: Request, data: Branding) -> str:
    tenant_id = await managed_tenant(current_scope.get(), data.tenant)
    patch = patch_of(data)
    record = await _run(tenant_id, lambda ctx: service.update_tenant(ctx, patch))
    return f"Saved: the pages and e-mails of {record.name} now use these settings."


FORMS = [
    FormConfig(name="Branding and legal information", pydantic_model=Branding,
               endpoint=save_branding, form_group="Tenant settings",
               description="Logo, colours, sender, footer, controller and DPO shown on the "
                           "subscriber pages and e-mails. Blank keeps a value; - clears it."),
]
