"""Request and response bodies of the consent domain (msgspec).

Inputs forbid unknown fields: a silently ignored typo in a consent payload is a
legal risk.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal, Optional, Union

import msgspec
from msgspec import UNSET, Meta, UnsetType

from optinbase.i18n import N_

Channel = Literal["email", "sms", "phone", "postal", "social_ads", "push"]
CHANNELS: tuple[str, ...] = ("email", "sms", "phone", "postal", "social_ads", "push")
# What people read for each channel (messages of optinbase.i18n's catalogues).
# Channels that reach a phone: consent on them without a number would be
# exported with an empty phone, proof of nothing (issue 12 §5).
PHONE_CHANNELS = ("sms", "phone")

CHANNEL_NAMES: dict[str, str] = {
    "email": N_("channel.email"), "sms": N_("channel.sms"), "phone": N_("channel.phone"),
    "postal": N_("channel.postal"), "social_ads": N_("channel.social_ads"),
    "push": N_("channel.push"),
}
Action = Literal["grant", "withdraw", "refuse"]
Method = Literal[
    "web_form", "api", "import", "admin", "double_opt_in", "preference_centre",
    "one_click_unsubscribe", "sms_stop", "phone_call", "dsr", "paper",
    "esp_complaint", "esp_unsubscribe",
]
LegalBasis = Literal[
    "consent", "contract", "legal_obligation", "vital_interests", "public_task",
    "legitimate_interest",
]

Key = Annotated[str, Meta(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$", max_length=63)]
Short = Annotated[str, Meta(max_length=200)]
Language = Annotated[str, Meta(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$", max_length=35)]
Country = Annotated[str, Meta(pattern=r"^[A-Z]{2}$")]
Url = Annotated[str, Meta(max_length=2000, pattern=r"^https?://")]
BirthYear = Annotated[int, Meta(ge=1900, le=2100)]


class Input(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True, kw_only=True):
    pass


# --- purposes and notices ----------------------------------------------------


PurposeKind = Literal["marketing", "tracking"]
# A consent's validity: up to ten years (a prospect's data is kept three, CNIL).
ValidityMonths = Annotated[int, Meta(ge=1, le=120)]


class PurposeIn(Input):
    key: Key
    name: Short
    description: Annotated[str, Meta(max_length=5000)] = ""
    legal_basis: LegalBasis = "consent"
    dpv_purpose: Annotated[str, Meta(max_length=100)] = ""
    # `tracking`: individual open/click measurement in e-mails (consent.tracking).
    kind: PurposeKind = "marketing"
    validity_months: Optional[ValidityMonths] = None


class PurposePatch(Input):
    """Absent = unchanged. The key never changes: notices and segments name it."""

    name: Union[Short, UnsetType] = UNSET
    description: Union[Annotated[str, Meta(max_length=5000)], UnsetType] = UNSET
    legal_basis: Union[LegalBasis, UnsetType] = UNSET
    dpv_purpose: Union[Annotated[str, Meta(max_length=100)], UnsetType] = UNSET
    retired: Union[bool, UnsetType] = UNSET
    # null: consents to it last until withdrawn again (consent.expiry).
    validity_months: Union[ValidityMonths, None, UnsetType] = UNSET


class PurposeOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    key: str
    name: str
    description: str
    legal_basis: str
    dpv_purpose: str
    retired: bool
    created_at: dt.datetime
    kind: str = "marketing"
    validity_months: Optional[int] = None


class NoticeIn(Input):
    purpose: Key
    channels: Annotated[list[Channel], Meta(min_length=1, max_length=6)]
    language: Language
    text: Annotated[str, Meta(min_length=1, max_length=20_000)]
    partners: Annotated[list[Short], Meta(max_length=200)] = []
    policy_url: Optional[Url] = None


class NoticeOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    purpose: str
    channels: list[str]
    language: str
    version: int
    text: str
    text_sha256: str
    partners: list[str]
    policy_url: Optional[str]
    created_at: dt.datetime


# --- contacts ------------------------------------------------------------------

Attributes = dict[Annotated[str, Meta(pattern=r"^[A-Za-z0-9_]{1,63}$")], Any]


class ContactIn(Input):
    email: Optional[Annotated[str, Meta(max_length=254)]] = None
    phone: Optional[Annotated[str, Meta(max_length=32)]] = None
    external_id: Optional[Short] = None
    first_name: Optional[Short] = None
    last_name: Optional[Short] = None
    locale: Optional[Language] = None
    country: Optional[Country] = None
    postal_code: Optional[Annotated[str, Meta(max_length=20)]] = None
    birth_year: Optional[BirthYear] = None
    gender: Optional[Annotated[str, Meta(max_length=20)]] = None
    language: Optional[Language] = None
    attributes: Optional[Attributes] = None
    source: Optional[Annotated[str, Meta(max_length=500)]] = None


class ContactPatch(Input):
    """Absent = unchanged; null = cleared."""

    email: Union[Annotated[str, Meta(max_length=254)], None, UnsetType] = UNSET
    phone: Union[Annotated[str, Meta(max_length=32)], None, UnsetType] = UNSET
    external_id: Union[Short, None, UnsetType] = UNSET
    first_name: Union[Short, None, UnsetType] = UNSET
    last_name: Union[Short, None, UnsetType] = UNSET
    locale: Union[Language, None, UnsetType] = UNSET
    country: Union[Country, None, UnsetType] = UNSET
    postal_code: Union[Annotated[str, Meta(max_length=20)], None, UnsetType] = UNSET
    birth_year: Union[BirthYear, None, UnsetType] = UNSET
    gender: Union[Annotated[str, Meta(max_length=20)], None, UnsetType] = UNSET
    language: Union[Language, None, UnsetType] = UNSET
    attributes: Union[Attributes, None, UnsetType] = UNSET
    source: Union[Annotated[str, Meta(max_length=500)], None, UnsetType] = UNSET


class ContactOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    email: Optional[str]
    phone: Optional[str]
    external_id: Optional[str]
    first_name: Optional[str]
    last_name: Optional[str]
    locale: Optional[str]
    country: Optional[str]
    postal_code: Optional[str]
    birth_year: Optional[int]
    gender: Optional[str]
    language: Optional[str]
    attributes: dict[str, Any]
    source: Optional[str]
    created_at: dt.datetime
    updated_at: dt.datetime
    last_activity_at: Optional[dt.datetime]




# --- consents ------------------------------------------------------------------


class PhoneProofIn(Input):
    """How a phone-channel consent was collected (Code de la consommation
    L. 223-1: the professional must prove it). A consent given during a call
    names the agent and a reference to the call's recording."""

    collected_via: Literal["form", "in_store", "call"]
    script_version: Optional[Annotated[str, Meta(max_length=100)]] = None
    agent: Optional[Short] = None
    recording_ref: Optional[Annotated[str, Meta(max_length=500)]] = None


class ConsentIn(Input):
    channel: Channel
    purpose: Key
    action: Action
    method: Method
    notice_id: Optional[uuid.UUID] = None
    source: Optional[Annotated[str, Meta(max_length=2000)]] = None
    collected_at: Optional[dt.datetime] = None
    ip: Optional[Annotated[str, Meta(max_length=64)]] = None
    user_agent: Optional[Annotated[str, Meta(max_length=1000)]] = None
    double_opt_in: bool = False
    proof: Optional[PhoneProofIn] = None  # phone channel grants (consent.phone)


class ConsentEventOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    seq: int
    contact_id: Optional[uuid.UUID]
    channel: str
    purpose: str
    action: str
    status: Optional[str] = None
    notice_id: Optional[uuid.UUID]
    method: str
    source: Optional[str]
    collected_at: dt.datetime
    recorded_at: dt.datetime
    actor: Optional[str]
    ip: Optional[str]
    user_agent: Optional[str]
    prev_hash: str
    hash: str
    # Phone channel: how consent was collected (consent.phone); absent otherwise.
    proof: Union[dict[str, Any], UnsetType] = UNSET


class ConsentStateOut(msgspec.Struct, kw_only=True):
    channel: str
    purpose: str
    status: str
    since: dt.datetime
    expires_at: Optional[dt.datetime]
    event_id: uuid.UUID


class CheckOut(msgspec.Struct, kw_only=True, gc=False):
    """gc=False: only scalars, so never in a cycle; a batch makes a thousand,
    which the collector then need not track (issue 14's batch check)."""

    allowed: bool
    status: str
    since: Optional[dt.datetime] = None
    event_id: Optional[uuid.UUID] = None
    suppressed: bool = False  # on the suppression list: never allowed, whatever the consent
    restricted: bool = False  # processing restricted (GDPR Art. 18): never allowed meanwhile
    # E-mail: may this message carry an individual open pixel and tracked
    # links? Only with a valid consent to a `tracking` purpose (consent.tracking).
    tracking_allowed: bool = False
    # Phone: why the calling rules refuse a call at `at` (consent.calling); absent otherwise.
    reason: Union[str, UnsetType] = UNSET


class CheckItem(Input, gc=False):
    """gc=False: only scalars, never in a cycle; up to a thousand a batch."""

    channel: Channel
    purpose: Key
    email: Optional[Annotated[str, Meta(max_length=254)]] = None
    phone: Optional[Annotated[str, Meta(max_length=32)]] = None
    contact_id: Optional[uuid.UUID] = None
    # Phone: the time of the intended call, for the calling rules (default now).
    at: Optional[Annotated[dt.datetime, Meta(tz=True)]] = None


Outcome = Literal["answered", "no_answer", "voicemail", "refused"]


class AttemptIn(Input):
    """A call or attempted call (POST /v1/contacts/{id}/contact-attempts)."""

    outcome: Outcome
    channel: Literal["phone"] = "phone"
    at: Optional[Annotated[dt.datetime, Meta(tz=True)]] = None
    purpose: Optional[Key] = None
    agent: Optional[Short] = None


class AttemptOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    contact_id: uuid.UUID
    channel: str
    purpose: Optional[str]
    at: dt.datetime
    outcome: str
    agent: Optional[str]


class CheckBatchIn(Input):
    items: Annotated[list[CheckItem], Meta(min_length=1, max_length=1000)]


class CheckBatchOut(msgspec.Struct):
    results: list[CheckOut]




# --- suppression list and imports ----------------------------------------------

SuppressionChannel = Literal["email", "sms", "phone", "postal", "social_ads", "push", "all"]
SuppressionReason = Literal["erasure", "objection", "complaint", "bounce", "manual"]


class SuppressionIn(Input):
    reason: SuppressionReason
    email: Optional[Annotated[str, Meta(max_length=254)]] = None
    phone: Optional[Annotated[str, Meta(max_length=32)]] = None
    channel: SuppressionChannel = "all"


class SuppressionOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    kind: str
    channel: str
    reason: str
    created_at: dt.datetime


class SuppressionCheckOut(msgspec.Struct, kw_only=True):
    suppressed: bool
    channels: list[str]


class SuppressionRemoveIn(Input):
    """Taking a person off the list: `reason` (why, in words) is required and
    audited; without `channel` every entry of the person goes."""

    reason: Annotated[str, Meta(min_length=1, max_length=500)]
    email: Optional[Annotated[str, Meta(max_length=254)]] = None
    phone: Optional[Annotated[str, Meta(max_length=32)]] = None
    channel: Optional[SuppressionChannel] = None


class SuppressionEntryOut(msgspec.Struct, kw_only=True):
    """One listed entry: the keyed hash, never the address."""

    id: uuid.UUID
    kind: str
    identifier_hash: str
    channel: str
    reason: str
    created_at: dt.datetime


class ImportErrorOut(msgspec.Struct, kw_only=True):
    line: int
    column: str
    reason: str


class ImportJobOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    status: str
    format: str
    total: int
    created: int
    updated: int
    rejected: int
    errors: list[ImportErrorOut]
    detail: str
    created_at: dt.datetime
    finished_at: Optional[dt.datetime]
