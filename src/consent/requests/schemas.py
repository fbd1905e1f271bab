"""Bodies of the data-subject request API (msgspec; inputs forbid unknown fields)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal, Optional

import msgspec
from msgspec import Meta

from consent.schemas import ContactPatch, Input, Language
from optinbase.i18n import N_

Kind = Literal[
    "access", "portability", "rectification", "erasure", "withdrawal", "objection", "restriction",
]
KINDS: tuple[str, ...] = (
    "access", "portability", "rectification", "erasure", "withdrawal", "objection", "restriction",
)
# What the person reads for each kind (messages of optinbase.i18n's catalogues).
KIND_NAMES: dict[str, str] = {
    "access": N_("request.kind.access"), "portability": N_("request.kind.portability"),
    "rectification": N_("request.kind.rectification"), "erasure": N_("request.kind.erasure"),
    "withdrawal": N_("request.kind.withdrawal"), "objection": N_("request.kind.objection"),
    "restriction": N_("request.kind.restriction"),
}
OPEN = ("unverified", "verified")
Note = Annotated[str, Meta(max_length=5000)]
Reason = Annotated[str, Meta(min_length=1, max_length=2000)]


class RequestIn(Input):
    kind: Kind
    email: Optional[Annotated[str, Meta(max_length=254)]] = None
    phone: Optional[Annotated[str, Meta(max_length=32)]] = None
    # The caller vouches that it checked who the person is (recorded as such).
    identity_verified: bool = False
    note: Note = ""
    changes: Optional[ContactPatch] = None  # rectification: what the person asks to change
    locale: Optional[Language] = None


class ExtendIn(Input):
    months: Literal[1, 2]
    reason: Reason


class CloseIn(Input):
    reason: Annotated[str, Meta(max_length=2000)] = ""
    changes: Optional[ContactPatch] = None  # rectification: the changes staff approved


class VerifyIn(Input):
    note: Note = ""  # how staff checked the person's identity


class RequestEventOut(msgspec.Struct, kw_only=True):
    at: dt.datetime
    actor: str
    action: str
    details: dict[str, Any]


class RequestOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    kind: str
    status: str
    source: str
    email: Optional[str]
    phone: Optional[str]
    contact_id: Optional[uuid.UUID]
    locale: Optional[str]
    note: str
    changes: dict[str, Any]
    verification: Optional[str]
    received_at: dt.datetime
    verified_at: Optional[dt.datetime]
    due_at: dt.datetime
    overdue: bool
    extended_months: int
    extension_reason: str
    closed_at: Optional[dt.datetime]
    outcome: str
    package_expires_at: Optional[dt.datetime]
    events: Optional[list[RequestEventOut]] = None
