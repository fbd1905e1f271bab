"""A form definition as the API takes and gives it.

Fields are contact columns or custom attributes (`attributes.<key>`) with a
type and validation; the e-mail field is always there (confirmations go to
it). Consents offered: every purpose × channel listed, each shown with the
notice chosen when the version was made (the newest of the purpose in the
form's language covering the channel) — pinned in the version, so the proof
of a submission names the notice version the person read.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal, Optional, Union

import msgspec
from msgspec import UNSET, Meta, UnsetType

from consent.schemas import Channel, Key, Language

FieldName = Annotated[str, Meta(
    pattern=r"^(email|phone|first_name|last_name|postal_code|country|birth_year"
            r"|attributes\.[a-z0-9_]{1,40})$")]
Origin = Annotated[str, Meta(pattern=r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$", max_length=300)]
Text = Annotated[str, Meta(max_length=2000)]
Line = Annotated[str, Meta(max_length=200, pattern=r"^[^\r\n]*$")]


class FormField(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, omit_defaults=True):
    name: FieldName
    label: Optional[Line] = None  # the tenant's own words; catalogue labels otherwise
    required: bool = False
    type: Literal["text", "number", "date", "select", "checkbox"] = "text"
    options: Optional[Annotated[list[Line], Meta(max_length=50)]] = None  # select
    pattern: Optional[Annotated[str, Meta(max_length=200)]] = None
    max_length: Annotated[int, Meta(ge=1, le=500)] = 200


class Texts(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, omit_defaults=True):
    title: Optional[Line] = None
    intro: Optional[Text] = None
    submit: Optional[Line] = None
    success: Optional[Text] = None


class Branding(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, omit_defaults=True):
    colour: Annotated[str, Meta(pattern=r"^#[0-9a-fA-F]{6}$")] = "#0b4f9c"
    font: Optional[Annotated[str, Meta(pattern=r"^[A-Za-z0-9 ,-]{1,80}$")]] = None


class FormIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: Line
    purposes: Annotated[list[Key], Meta(min_length=1, max_length=20)]
    channels: Annotated[list[Channel], Meta(min_length=1, max_length=6)]
    language: Language = "fr"
    fields: Annotated[list[FormField], Meta(max_length=30)] = msgspec.field(
        default_factory=lambda: [FormField(name="email", required=True)])
    texts: Texts = msgspec.field(default_factory=Texts)
    branding: Branding = msgspec.field(default_factory=Branding)
    allowed_origins: Annotated[list[Origin], Meta(max_length=20)] = msgspec.field(
        default_factory=list)
    redirect_url: Optional[Annotated[str, Meta(max_length=2000, pattern=r"^https?://")]] = None
    double_opt_in: bool = True


class FormPatch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, omit_defaults=True):
    name: Union[Line, UnsetType] = UNSET
    purposes: Union[Annotated[list[Key], Meta(min_length=1, max_length=20)], UnsetType] = UNSET
    channels: Union[Annotated[list[Channel], Meta(min_length=1, max_length=6)], UnsetType] = UNSET
    language: Union[Language, UnsetType] = UNSET
    fields: Union[Annotated[list[FormField], Meta(max_length=30)], UnsetType] = UNSET
    texts: Union[Texts, UnsetType] = UNSET
    branding: Union[Branding, UnsetType] = UNSET
    allowed_origins: Union[Annotated[list[Origin], Meta(max_length=20)], UnsetType] = UNSET
    redirect_url: Union[Optional[Annotated[str, Meta(max_length=2000, pattern=r"^https?://")]],
                        UnsetType] = UNSET
    double_opt_in: Union[bool, UnsetType] = UNSET


class FormOffer(msgspec.Struct, kw_only=True):
    purpose: str
    purpose_name: str
    channel: str
    notice_id: uuid.UUID
    notice_version: int
    notice_text: str
    notice_language: str


class Definition(FormIn, kw_only=True):
    """What a version stores: the input, and the offers resolved from it."""

    offers: list[FormOffer] = msgspec.field(default_factory=list)


class Embed(msgspec.Struct, kw_only=True):
    url: str  # the hosted form
    script: str  # renders the form in the host page; submits from it (CORS)
    iframe: str


class FormOut(Definition, kw_only=True):
    id: uuid.UUID
    version: int
    created_at: dt.datetime
    embed: Embed
