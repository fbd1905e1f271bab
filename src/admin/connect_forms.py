"""Admin forms for the connected ends: an e-mail provider's inbound endpoint
(messaging.inbound) and an embeddable form (consent.forms), each through the
same service as the API, acting for one tenant the staff member manages.

The form builder saves a version and answers with the hosted page's URL (the
preview: it renders exactly what the script and the iframe will show) and the
two snippets to paste."""

from __future__ import annotations

import uuid
from typing import Literal, Optional

import msgspec
from piccolo_admin.endpoints import FormConfig
from pydantic import BaseModel, Field
from starlette.requests import Request

from admin.forms import managed_tenant
from admin.request_forms import run_acting
from admin.scope import current_scope
from consent.forms import definitions
from consent.forms.schemas import FormIn, FormPatch
from messaging.inbound import endpoints
from optinbase.settings import get_settings


class NewInboundEndpoint(BaseModel):
    tenant: str = Field(default="", description="Tenant slug (blank: your only tenant)")
    provider: Literal["ses", "sendgrid", "mailgun", "postmark", "brevo"]
    verification_key: str = Field(default="", max_length=1000,
                                  description="SendGrid: the signed event webhook's key")
    signing_key: str = Field(default="", max_length=200,
                             description="Mailgun: the HTTP webhook signing key")
    topic_arn: str = Field(default="", max_length=300,
                           description="SES: the SNS topic to accept (arn:aws:sns:...)")


async def create_inbound_endpoint(request: Request, data: NewInboundEndpoint) -> str:
    tenant_id = await managed_tenant(current_scope.get(), data.tenant)
    try:  # the API's own rules (the topic's form, the keys' lengths)
        body = msgspec.convert({"provider": data.provider,
                                "verification_key": data.verification_key or None,
                                "signing_key": data.signing_key or None,
                                "topic_arn": data.topic_arn or None}, endpoints.InboundEndpointIn)
    except msgspec.ValidationError as exc:
        raise ValueError(str(exc)) from None
    out = await run_acting(tenant_id, lambda ctx: endpoints.create(ctx, body, get_settings().public_url))
    shown = {"URL": out.url_with_credentials or out.url, "token": out.token}
    return "Paste into the provider (shown once): " + "; ".join(
        f"{k}: {v}" for k, v in shown.items() if v)


class FormBuilder(BaseModel):
    tenant: str = Field(default="", description="Tenant slug (blank: your only tenant)")
    form_id: str = Field(default="", description="Blank: a new form; else its next version")
    name: str = Field(min_length=1, max_length=200)
    purposes: str = Field(description="Purpose keys, space-separated")
    channels: str = Field(default="email", description="Channels, space-separated")
    language: Literal["fr", "en"] = "fr"
    fields: str = Field(default="email first_name",
                        description="Field names, space-separated (email, phone, first_name,"
                                    " last_name, postal_code, country, birth_year,"
                                    " attributes.<key>)")
    title: str = Field(default="", max_length=200)
    intro: str = Field(default="", max_length=2000)
    colour: str = Field(default="#0b4f9c", pattern=r"^#[0-9a-fA-F]{6}$")
    allowed_origins: str = Field(default="", description="https://www.example.com ... (space-separated)")
    redirect_url: str = Field(default="", max_length=2000)
    double_opt_in: bool = True


def _definition(data: FormBuilder) -> dict:
    names = data.fields.split() or ["email"]
    return {
        "name": data.name, "purposes": data.purposes.split(), "channels": data.channels.split(),
        "language": data.language, "allowed_origins": data.allowed_origins.split(),
        "fields": [{"name": n, "required": n == "email"} for n in names],
        "texts": {k: v for k, v in (("title", data.title), ("intro", data.intro)) if v},
        "branding": {"colour": data.colour}, "redirect_url": data.redirect_url or None,
        "double_opt_in": data.double_opt_in,
    }


async def save_form(request: Request, data: FormBuilder) -> str:
    tenant_id = await managed_tenant(current_scope.get(), data.tenant)
    public_url = get_settings().public_url
    body = _definition(data)
    form_id: Optional[uuid.UUID] = None
    if data.form_id.strip():
        try:
            form_id = uuid.UUID(data.form_id.strip())
        except ValueError:
            raise ValueError("A form id looks like 0b7c…-…: copy it from the answer.") from None
    if form_id is None:
        out = await run_acting(tenant_id, lambda ctx: definitions.create(
            ctx, msgspec.convert(body, FormIn), public_url))
    else:
        out = await run_acting(tenant_id, lambda ctx: definitions.patch(
            ctx, form_id, msgspec.convert(body, FormPatch), public_url))
    return (f"Form {out.id} version {out.version} saved. Preview: {out.embed.url} — "
            f"script: {out.embed.script} — iframe: {out.embed.iframe}")


FORMS = [
    FormConfig(name="Connect an e-mail provider", pydantic_model=NewInboundEndpoint,
               endpoint=create_inbound_endpoint, form_group="Connected",
               description="Bounces, complaints and unsubscribes from the provider"
                           " (README: Connecting your e-mail provider)."),
    FormConfig(name="Save an embeddable form", pydantic_model=FormBuilder, endpoint=save_form,
               form_group="Connected",
               description="Each save is a new version; open the preview URL to see it."),
]
