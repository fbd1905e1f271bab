"""What completing a request does, per kind (GDPR Art. 15–21).

* access, portability — a package (consent.requests.package) kept behind an
  expiring link;
* withdrawal — every granted or pending consent is withdrawn: ledger events
  with method `dsr`;
* objection (Art. 21(2), direct marketing) — consents for marketing purposes
  are withdrawn and the person's identifiers are suppressed on all channels;
* rectification — the approved changes (or else the requested ones) are applied;
* restriction (Art. 18) — the contact is kept but leaves every export, count
  and consent check (`contact.restricted_at`);
* erasure — consent.erasure, plus a suppression of the identifier the person
  gave even when no contact holds it, so they are never imported again.
An unknown person is not an error: their access package says nothing is held.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any, Optional

import msgspec

from consent import contacts
from consent.erasure import erase_contact, journal_erasure
from consent.ledger import chain, states
from consent.requests import mail, package
from consent.requests.records import mailing
from consent.requests.schemas import CloseIn
from consent.schemas import ContactPatch, SuppressionIn
from consent.suppression import add as add_suppression, contact_hashes
from optinbase import audit, db
from optinbase.context import TenantContext
from optinbase.errors import Invalid, NotFound
from tenants.repository import TenantRecord

PACKAGE_DAYS = 30  # tenant setting `package_days`
# Purposes an objection to direct marketing covers, by their DPV term. A purpose
# without a term counts as marketing: the doubt goes the person's way.
MARKETING_TERMS = frozenset({
    "", "dpv:DirectMarketing", "dpv:Marketing", "dpv:Advertising",
    "dpv:PersonalisedAdvertising", "dpv:TargetedAdvertising", "dpv:SocialMediaMarketing",
    "dpv:PublicRelations", "dpv:CustomerRelationshipManagement", "dpv:PromotionalMaterial",
})


@dataclass
class Outcome:
    key: str  # what happened, as consent.requests.mail.OUTCOMES words it to the person
    details: dict[str, Any] = field(default_factory=dict)
    package: Optional[bytes] = None


_LIVE_STATES = (
    "SELECT s.channel, s.purpose_id, p.dpv_purpose FROM consent_state s"
    " JOIN purpose p ON p.tenant_id = s.tenant_id AND p.id = s.purpose_id"
    " WHERE s.tenant_id = {} AND s.contact_id = {} AND s.status IN ('granted', 'pending')"
    " ORDER BY s.channel, s.purpose_id"
)


async def _withdraw(ctx: TenantContext, contact_id: uuid.UUID, request_id: uuid.UUID,
                    marketing_only: bool) -> int:

    now = dt.datetime.now(dt.timezone.utc)
    rows = [r for r in await db.fetch(_LIVE_STATES, ctx.tenant_id, contact_id)
            if not marketing_only or (r["dpv_purpose"] or "") in MARKETING_TERMS]
    stored = await states.record_events(ctx, [chain.NewEvent(
        tenant_id=ctx.tenant_id, contact_id=contact_id, channel=r["channel"],
        purpose_id=r["purpose_id"], action="withdrawn", method="dsr",
        collected_at=now, recorded_at=now, source=f"data-subject request {request_id}",
        actor=ctx.actor,
    ) for r in rows])
    return len(stored)


async def _suppress_identifiers(ctx: TenantContext, request: Any, contact: Any,
                                reason: str) -> int:
    given = {("email", request["email"]), ("phone", request["phone"])}
    if contact is not None:
        given |= {("email", contact["email"]), ("phone", contact["phone"])}
    added = 0
    for kind, value in sorted((k, v) for k, v in given if v):
        await add_suppression(ctx, SuppressionIn(reason=reason, **{kind: value}))
        added += 1
    return added


async def execute(ctx: TenantContext, request: Any, data: CloseIn, *,
                  tenant: TenantRecord) -> Outcome:
    kind = request["kind"]
    request_id = request["id"]
    contact_id = None if request["contact_id"] is None else request["contact_id"]
    contact = None if contact_id is None else await contacts.find_contact(ctx, contact_id)

    if kind in ("access", "portability"):
        built = await package.build(ctx, request, contact, tenant)
        return Outcome("package" if contact is not None else "no_data",
                       {"package": True, "found": contact is not None}, built)
    if kind == "erasure":
        if contact_id is not None:
            await erase_contact(ctx, contact_id, request_id=request_id)
        else:
            await _suppress_identifiers(ctx, request, None, "erasure")
            await journal_erasure(ctx, None, request["email"], request["phone"],
                                  await contact_hashes(ctx, request["email"], request["phone"]),
                                  suppress=True)
        return Outcome("erased", {"found": contact is not None})
    if contact is None:
        if kind == "objection":  # nothing to withdraw; never contact them all the same
            added = await _suppress_identifiers(ctx, request, None, "objection")
            return Outcome("no_marketing",
                           {"found": False, "suppressed": added})
        return Outcome("no_data", {"found": False})
    if kind == "withdrawal":
        withdrawn = await _withdraw(ctx, contact_id, request_id, marketing_only=False)
        return Outcome("withdrawn", {"withdrawn": withdrawn})
    if kind == "objection":
        withdrawn = await _withdraw(ctx, contact_id, request_id, marketing_only=True)
        added = await _suppress_identifiers(ctx, request, contact, "objection")
        return Outcome("no_marketing",
                       {"withdrawn": withdrawn, "suppressed": added})
    if kind == "restriction":
        await db.execute(
            "UPDATE contact SET restricted_at = {} WHERE tenant_id = {} AND id = {}",
            dt.datetime.now(dt.timezone.utc), ctx.tenant_id, contact_id,
        )
        return Outcome("restricted", {})
    if kind == "rectification":
        patch = data.changes
        if patch is None:
            stored = request["changes"]
            stored = msgspec.json.decode(stored) if isinstance(stored, str) else stored
            patch = msgspec.convert(stored or {}, ContactPatch)
        fields = sorted(k for k, v in msgspec.structs.asdict(patch).items()
                        if v is not msgspec.UNSET)
        if not fields:
            raise Invalid("say which changes to apply",
                          errors=[{"field": "changes", "message": "no change to apply"}])
        await contacts.patch_contact(ctx, contact_id, patch)
        return Outcome("rectified", {"fields": fields})
    raise Invalid(f"unknown kind {kind!r}")  # the schema makes this unreachable


async def lift_restriction(ctx: TenantContext, contact_id: uuid.UUID) -> bool:
    """Ends an Art. 18 restriction (its ground has gone); the person is told
    (Art. 18(3)). False when the contact was not restricted."""
    contact = await db.fetchrow(
        "SELECT id, email, locale, language, restricted_at FROM contact"
        " WHERE tenant_id = {} AND id = {}", ctx.tenant_id, contact_id)
    if contact is None:
        raise NotFound("contact not found")
    if contact["restricted_at"] is None:
        return False
    await db.execute("UPDATE contact SET restricted_at = NULL WHERE tenant_id = {} AND id = {}",
                     ctx.tenant_id, contact_id)
    await audit.record(ctx, "contact.restriction_lifted", "contact", contact_id,
                       {"informed": bool(contact["email"])})
    if contact["email"]:
        await mail.restriction_lifted((await mailing(ctx.tenant_id)).tenant, contact)
    return True
