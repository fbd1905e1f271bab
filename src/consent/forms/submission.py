"""A submission of an embedded form: the origin checked against the form's
list, the fields checked against the definition, the boxes against the
version's offers; then the hosted form's journey (consent.journey.subscription):
`requested` consents and the confirmation e-mail (double opt-in), or granted
at once when the form is single opt-in.

Proof: each ledger event's `source` names the form, its version and the page
the person was on (scheme, host and path: the query string may carry
tracking or personal values and is dropped), its notice (hence the notice
version) is the one the version showed, and IP and user agent are the
request's.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Annotated, Any, Optional, Union
from urllib.parse import urlsplit

import msgspec
from msgspec import Meta

from consent.forms import definitions
from consent.forms.schemas import Definition, FormField
from consent.journey import subscription
from consent.journey.subscription import Choice, SubscribeIn
from consent.schemas import ContactIn
from optinbase.context import TenantContext
from optinbase.errors import Forbidden, invalid_field
from optinbase.i18n import N_
from tenants.repository import TenantRecord

Value = Union[str, int, float, bool, None]


class Box(msgspec.Struct, forbid_unknown_fields=True):
    purpose: Annotated[str, Meta(max_length=63)]
    channel: Annotated[str, Meta(max_length=16)]


class FormSubmission(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    fields: Annotated[dict[Annotated[str, Meta(max_length=60)], Value], Meta(max_length=40)]
    consents: Annotated[list[Box], Meta(max_length=120)]
    page_url: Optional[Annotated[str, Meta(max_length=2000)]] = None


class SubmitOut(msgspec.Struct, kw_only=True, omit_defaults=True):
    status: str  # confirmation_sent | subscribed
    redirect_url: Optional[str] = None


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def origin_allowed(origin: Optional[str], definition: Definition, own: set[str]) -> bool:
    """The browser's Origin is one the tenant listed, or ours (the hosted
    page and the iframe post to us from our own origin)."""
    if not origin:
        return False
    origin = origin.strip().lower()
    return origin in own or origin in {o.lower() for o in definition.allowed_origins}


def page_url(raw: Optional[str]) -> Optional[str]:
    """scheme://host/path of an http(s) URL; None for anything else."""
    if not raw:
        return None
    try:
        parts = urlsplit(raw.strip())
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc or "@" in parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}{parts.path}"[:400]


def _value(field: FormField, raw: Value, index: str) -> Any:
    """The field's value as the contact stores it, or a 422 naming it."""
    if field.type == "checkbox":
        return raw in (True, "on", "true", "1", 1)
    text = "" if raw is None else str(raw).strip()
    if not text:
        if field.required:
            raise invalid_field(index, "is required", N_("forms.field_required"))
        return None
    if len(text) > field.max_length or "\x00" in text:
        raise invalid_field(index, f"is longer than {field.max_length} characters",
                            N_("forms.field_invalid"))
    if field.type == "number" or field.name == "birth_year":
        try:
            number = float(text)
        except ValueError:
            raise invalid_field(index, "must be a number", N_("forms.field_invalid")) from None
        return int(number) if number.is_integer() else number
    if field.type == "date":
        try:
            return dt.date.fromisoformat(text).isoformat()
        except ValueError:
            raise invalid_field(index, "must be a date (YYYY-MM-DD)",
                                N_("forms.field_invalid")) from None
    if field.type == "select" and text not in (field.options or []):
        raise invalid_field(index, "is not one of the options", N_("forms.field_invalid"))
    if field.pattern and not re.fullmatch(field.pattern, text):
        raise invalid_field(index, "does not have the expected form", N_("forms.field_invalid"))
    return text


def read_fields(definition: Definition, given: dict[str, Value]) -> dict[str, Any]:
    """Contact columns and `attributes` from the submitted fields; a field the
    form does not have is refused (no writing columns it never showed)."""
    known = {f.name: f for f in definition.fields}
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise invalid_field(f"fields.{unknown[0]}", "is not a field of this form")
    values: dict[str, Any] = {"attributes": {}}
    for name, field in known.items():
        value = _value(field, given.get(name), f"fields.{name}")
        if name.startswith("attributes."):
            if value is not None:
                values["attributes"][name.split(".", 1)[1]] = value
        else:
            values[name] = value
    if values.get("birth_year") is not None:
        values["birth_year"] = int(values["birth_year"])
    if values.get("country"):
        values["country"] = str(values["country"]).upper()
    return values


async def submit(ctx: TenantContext, tenant: TenantRecord, form_id: uuid.UUID,
                 data: FormSubmission, *, origin: Optional[str], own_origins: set[str],
                 ip: Optional[str], user_agent: Optional[str], gpc: bool) -> SubmitOut:
    version = await definitions.current(ctx, form_id)
    definition = version.definition
    if not origin_allowed(origin, definition, own_origins):
        raise Forbidden("this form does not accept submissions from this site",
                        msgid=N_("forms.origin_refused"))
    values = read_fields(definition, data.fields)
    offered = {(o.purpose, o.channel): o.notice_id for o in definition.offers}
    choices = []
    for index, box in enumerate(data.consents):
        notice_id = offered.get((box.purpose, box.channel))
        if notice_id is None:
            raise invalid_field(f"consents[{index}]", "this box is not offered by the form",
                                N_("form.box_not_offered"))
        choices.append(Choice(channel=box.channel, purpose=box.purpose, notice_id=notice_id))
    page = page_url(data.page_url)
    source = f"form {form_id} v{version.version}" + (f" on {page}" if page else "")
    profile = {k: values.get(k) for k in ("first_name", "last_name", "postal_code", "country",
                                           "birth_year")}
    profile["attributes"] = values["attributes"] or None
    try:  # the contact's own rules (country code, birth year, lengths)
        msgspec.convert({k: v for k, v in profile.items() if v is not None}, ContactIn)
    except msgspec.ValidationError as error:
        raise invalid_field("fields", str(error), N_("forms.field_invalid")) from None
    await subscription.subscribe(
        ctx, tenant, SubscribeIn(email=str(values.get("email") or ""), consents=choices,
                                 phone=values.get("phone"), locale=definition.language),
        ip=ip, user_agent=user_agent, source=source, gpc=gpc, offered=offered,
        confirm=definition.double_opt_in, profile=profile)
    return SubmitOut(status="confirmation_sent" if definition.double_opt_in else "subscribed",
                     redirect_url=definition.redirect_url)
