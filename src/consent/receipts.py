"""Consent receipts for one ledger event: Kantara Consent Receipt v1.1
(KI-CR-v1.1.0) JSON, and an ISO/IEC TS 27560 consent record in DPV JSON-LD.

Every value comes from the event, its notice (text, partners, policy URL), its
purpose (name, legal basis, DPV term) and the tenant (controller). Tenant
settings may add what the tenant table does not hold: `address` (text or a
schema.org PostalAddress object), `phone`, `website`, `policy_url`.

Each receipt also carries a signed checkpoint covering its event
(consent.ledger.checkpoints), so the person holds the server's commitment to
a history that includes it.
"""

from __future__ import annotations

import json
import uuid
from typing import Any, Literal, Optional

import msgspec

from consent import contacts, phone
from consent.ledger import checkpoints
from consent.ledger.chain import canonical_time
from consent.ledger.signing import Checkpoint
from messaging.outbox import TRANSACTIONAL, enqueue_email
from consent.schemas import CHANNEL_NAMES
from optinbase import db, i18n
from optinbase.context import TenantContext
from optinbase.errors import NotFound
from optinbase.settings import get_settings
from tenants import repository
from tenants.repository import TenantRecord

Format = Literal["kantara", "iso27560"]
KANTARA_VERSION = "KI-CR-v1.1.0"
ISO_27560 = "https://www.iso.org/standard/80392.html"  # ISO/IEC TS 27560:2023

_EVENT = (
    "SELECT e.id, e.seq, e.contact_id, e.channel, e.purpose_id, e.action, e.method, e.source,"
    " e.notice_id, e.collected_at, e.recorded_at, e.prev_hash, e.hash, e.actor,"
    " p.key AS purpose_key, p.name AS purpose_name, p.description AS purpose_description,"
    " p.legal_basis, p.dpv_purpose, p.validity_months,"
    " n.language AS notice_language, n.version AS notice_version,"
    " n.text AS notice_text, n.text_sha256, n.partners, n.policy_url,"
    " c.email, c.phone, c.external_id, c.locale, c.language"
    " FROM consent_event e"
    " JOIN purpose p ON p.tenant_id = e.tenant_id AND p.id = e.purpose_id"
    " LEFT JOIN notice n ON n.tenant_id = e.tenant_id AND n.id = e.notice_id"
    " LEFT JOIN contact c ON c.tenant_id = e.tenant_id AND c.id = e.contact_id"
    " WHERE e.tenant_id = {} AND e.id = {}"
)

METHODS = {
    "web_form": "web form", "api": "recorded through the API", "import": "imported record",
    "admin": "recorded by staff", "double_opt_in": "double opt-in: confirmation link e-mailed",
    "preference_centre": "preference centre", "one_click_unsubscribe": "one-click unsubscribe",
    "sms_stop": "SMS STOP reply", "phone_call": "phone call", "dsr": "data-subject request",
    "paper": "paper form", "expiry": "validity period over (recorded by the system)", "esp_complaint": "spam complaint reported by the e-mail provider",
    "esp_unsubscribe": "unsubscribe reported by the e-mail provider",
}
PII = {
    "email": ["e-mail address"], "sms": ["mobile phone number"], "phone": ["phone number"],
    "postal": ["name", "postal address"], "social_ads": ["hashed e-mail address",
                                                        "hashed phone number"],
    "push": ["device push token"],
}
DPV_PII = {"email": ["pd:EmailAddress"], "sms": ["pd:TelephoneNumber"],
           "phone": ["pd:TelephoneNumber"], "postal": ["pd:Name", "pd:PostalAddress"],
           "social_ads": ["pd:EmailAddress", "pd:TelephoneNumber"], "push": ["pd:DeviceBased"]}
DPV_STATUS = {"requested": "dpv:ConsentRequested", "granted": "dpv:ConsentGiven",
              "confirmed": "dpv:ConsentGiven", "withdrawn": "dpv:ConsentWithdrawn",
              "refused": "dpv:ConsentRefused", "expired": "dpv:ConsentExpired"}
DPV_BASIS = {"consent": "dpv:Consent", "contract": "dpv:Contract",
             "legal_obligation": "dpv:LegalObligation", "vital_interests": "dpv:VitalInterest",
             "public_task": "dpv:PublicTask", "legitimate_interest": "dpv:LegitimateInterest"}


async def _event(ctx: TenantContext, event_id: uuid.UUID) -> tuple[Any, TenantRecord]:
    db.require_tenant(ctx.tenant_id)
    row = await db.fetchrow(_EVENT, ctx.tenant_id, event_id)
    tenant = await repository.tenant_by_id(ctx.tenant_id)
    if row is None or tenant is None:
        raise NotFound("consent event not found")
    return row, tenant


def _partners(row: Any) -> list[str]:
    return list(row["partners"] or [])


def _principal(row: Any) -> str:
    # Erasure blanks the contact: the receipt then names nobody.
    for name in ("email", "phone", "external_id", "contact_id"):
        if row[name]:
            return str(row[name])
    return "erased"


def _address(tenant: TenantRecord) -> dict[str, Any]:
    address = tenant.settings.get("address")
    if isinstance(address, dict):
        return {"addressCountry": tenant.country, **address}
    out: dict[str, Any] = {"addressCountry": tenant.country}
    if address:
        out["streetAddress"] = str(address)
    return out


def _policy_url(row: Any, tenant: TenantRecord) -> str:
    return row["policy_url"] or tenant.settings.get("policy_url") or ""


def _language(row: Any, tenant: TenantRecord) -> str:
    return row["notice_language"] or tenant.settings.get("default_locale") or "en"


def kantara(row: Any, tenant: TenantRecord, checkpoint: Optional[Checkpoint]) -> dict[str, Any]:
    partners = _partners(row)
    controller: dict[str, Any] = {
        "piiController": tenant.legal_name or tenant.name,
        "onBehalf": False,
        "contact": "Data Protection Officer" if tenant.dpo_email else tenant.name,
        "address": _address(tenant),
        "email": tenant.dpo_email,
        "phone": str(tenant.settings.get("phone") or ""),
    }
    if tenant.settings.get("website"):
        controller["piiControllerUrl"] = str(tenant.settings["website"])
    purpose = {
        "purpose": row["purpose_name"] + (f": {row['purpose_description']}"
                                          if row["purpose_description"] else ""),
        "purposeCategory": [row["dpv_purpose"] or row["purpose_key"]],
        "consentType": "EXPLICIT" if row["legal_basis"] == "consent" else row["legal_basis"],
        "piiCategory": PII[row["channel"]],
        "primaryPurpose": True,
        "termination": "until withdrawn (unsubscribe link, preference centre, SMS STOP or"
                       " a request to the controller)",
        "thirdPartyDisclosure": bool(partners),
        "thirdPartyName": ", ".join(partners),
    }
    return {
        "version": KANTARA_VERSION,
        "jurisdiction": tenant.country or "EU",
        "consentTimestamp": int(row["collected_at"].timestamp()),
        "collectionMethod": METHODS.get(row["method"], row["method"]),
        "consentReceiptID": str(row["id"]),
        "language": _language(row, tenant),
        "piiPrincipalId": _principal(row),
        "piiControllers": [controller],
        "policyUrl": _policy_url(row, tenant),
        "services": [{"service": f"{tenant.name}: {row['purpose_name']} ({row['channel']})",
                      "purposes": [purpose]}],
        "sensitive": False,
        "spiCat": [],
        # Extension: what ties the receipt to the ledger (verifiable there).
        "optinbase": _ledger_link(row, checkpoint),
    }


def _ledger_link(row: Any, checkpoint: Optional[Checkpoint]) -> dict[str, Any]:
    """The event's place in the chain, and a signed checkpoint covering it
    (its `seq` >= the event's): the person holds the server's commitment to a
    history that includes their event, checkable with the public key of
    `GET /v1/ledger/public-key`; removing or rewriting the event afterwards
    contradicts it."""
    return {
        "event_id": str(row["id"]), "seq": int(row["seq"]), "action": row["action"],
        "channel": row["channel"], "purpose": row["purpose_key"], "method": row["method"],
        "source": row["source"],
        "notice_id": None if row["notice_id"] is None else str(row["notice_id"]),
        "notice_version": row["notice_version"], "notice_sha256": row["text_sha256"],
        "collected_at": canonical_time(row["collected_at"]),
        "recorded_at": canonical_time(row["recorded_at"]),
        "prev_hash": row["prev_hash"], "hash": row["hash"],
        "checkpoint": None if checkpoint is None else msgspec.structs.asdict(checkpoint),
    }


# ISO/IEC TS 27560 as the W3C DPV guide maps it ("Consent Records and Receipts
# as per ISO/IEC TS 27560:2023 using DPV", DPVCG 2024): every field it marks
# mandatory is present in every record, grant, withdrawal and expiry alike.
DPV_27560 = "https://w3id.org/dpv/schema/dpv-27560"
WITHDRAWAL = ("one-click unsubscribe link (RFC 8058) in every e-mail, the preference centre"
              " linked from every e-mail, SMS STOP, or a request to the controller")
PROCESSING = {"social_ads": ["dpv:Collect", "dpv:Store", "dpv:Use", "dpv:Share"]}


def _months(months: int) -> dict[str, str]:
    return {"@value": f"P{months}M", "@type": "xsd:duration"}


def _validity(row: Any, tenant: TenantRecord) -> dict[str, str]:
    """How long the recorded state holds: a grant lasts its purpose's validity,
    else as long as the data may be kept (retention: CNIL's three years of
    inactivity by default); an ended consent holds no longer."""
    if row["action"] not in ("granted", "confirmed", "requested"):
        return {"@value": "PT0S", "@type": "xsd:duration"}
    retention = int(tenant.settings.get("retention_months") or 36)
    return _months(int(row["validity_months"] or retention))


def _contact(tenant: TenantRecord) -> str:
    """The controller's contact: its DPO, else its website, else its public
    data-subject request form (always there)."""
    return (tenant.dpo_email or str(tenant.settings.get("website") or "")
            or f"{get_settings().public_url}/p/{tenant.slug}/requests")


def _recorder(row: Any) -> dict[str, str]:
    """Who recorded the event: the person (pages, links) or the controller
    (its staff, keys, imports and the system acting for it)."""
    actor = row["actor"] or "erased"
    kind = "dpv:DataSubject" if actor == "subject" else "dpv:DataController"
    return {"@type": kind, "dct:identifier": actor}


def _notice(notice: Any, tenant: TenantRecord) -> dict[str, Any]:
    return {
        "@id": f"urn:uuid:{notice['notice_id']}", "@type": "dpv:ConsentNotice",
        "dct:language": notice["notice_language"], "dct:description": notice["notice_text"],
        "dct:hasVersion": notice["notice_version"], "dpv:hasPolicy": _policy_url(notice, tenant),
    }


def iso27560(row: Any, tenant: TenantRecord, checkpoint: Optional[Checkpoint],
             notice: Any = None) -> dict[str, Any]:
    """`notice`: for an event that names none (withdrawal, expiry), the notice
    of the consent it ends."""
    event_id = str(row["id"])
    notice = notice if row["notice_id"] is None else row
    language = (notice["notice_language"] if notice is not None else None) or _language(
        row, tenant)
    controller_name = tenant.legal_name or tenant.name
    address = _address(tenant)
    record: dict[str, Any] = {
        "@context": {"dpv": "https://w3id.org/dpv#", "pd": "https://w3id.org/dpv/pd#",
                     "dct": "http://purl.org/dc/terms/",
                     "xsd": "http://www.w3.org/2001/XMLSchema#",
                     "optinbase": "https://optinbase.dev/ns#"},
        "@id": f"urn:uuid:{event_id}",
        "@type": "dpv:ConsentRecord",
        "dct:conformsTo": {"@id": ISO_27560},
        "optinbase:profile": DPV_27560,
        "dct:identifier": event_id,  # record id
        "optinbase:receiptId": f"urn:uuid:{event_id}",  # this document, the receipt
        "dct:created": {"@value": canonical_time(row["recorded_at"]), "@type": "xsd:dateTime"},
        "dct:language": language,
        "dpv:hasDataSubject": {
            "@id": f"urn:uuid:{row['contact_id']}" if row["contact_id"] else "urn:optinbase:erased",
            "@type": "dpv:DataSubject",
            "dct:identifier": str(row["contact_id"]) if row["contact_id"] else "erased"},
        "dpv:hasDataController": {
            "@type": "dpv:DataController", "dct:identifier": str(tenant.id),
            "dct:title": controller_name, "dpv:hasName": controller_name,
            "dpv:hasAddress": ", ".join(str(v) for v in address.values() if v) or "",
            "dpv:hasContact": _contact(tenant),
            "dpv:hasCountry": tenant.country},
        "dpv:hasJurisdiction": tenant.country or "EU",
        "dpv:hasPurpose": {
            "@type": row["dpv_purpose"] or "dpv:Purpose", "dct:identifier": row["purpose_key"],
            "dct:title": row["purpose_name"], "dct:description": row["purpose_description"]},
        "dpv:hasLegalBasis": {"@id": DPV_BASIS.get(row["legal_basis"], "dpv:LegalBasis")},
        "dpv:hasPersonalData": [{"@id": term} for term in DPV_PII[row["channel"]]],
        "dpv:hasProcessing": [{"@id": term} for term in PROCESSING.get(
            row["channel"], ["dpv:Collect", "dpv:Store", "dpv:Use"])],
        "dpv:hasStorageCondition": [
            {"@type": "dpv:StorageLocation",
             "dpv:hasLocation": str(tenant.settings.get("storage_location") or tenant.country
                                    or "EU")},
            {"@type": "dpv:StorageDuration",
             "dpv:hasDuration": _months(int(tenant.settings.get("retention_months") or 36)),
             "dct:description": "kept until this long after the person's last activity,"
                                " then erased (CNIL: three years for prospects)"},
        ],
        "dpv:hasConsentControl": {"@type": "dpv:WithdrawConsent", "dct:description": WITHDRAWAL},
        "dpv:hasConsentStatus": {"@id": DPV_STATUS[row["action"]]},
        "dct:date": {"@value": canonical_time(row["collected_at"]), "@type": "xsd:dateTime"},
        "dpv:isIndicatedAtTime": {"@value": canonical_time(row["collected_at"]),
                                  "@type": "xsd:dateTime"},
        "dct:valid": _validity(row, tenant),
        "dpv:isImplementedByEntity": _recorder(row),
        "dpv:hasIndicationMethod": METHODS.get(row["method"], row["method"]),
        "dct:provenance": {"dct:source": row["source"], "optinbase:method": row["method"],
                           "optinbase:channel": row["channel"]},
        "optinbase:ledger": _ledger_link(row, checkpoint),
        "dpv:hasRecipient": [{"@type": "dpv:ThirdParty", "dct:title": name}
                             for name in (_partners(notice) if notice is not None else [])],
    }
    if notice is not None:
        record["dpv:hasNotice"] = _notice(notice, tenant)
    else:  # recorded without any notice (an import): the policy stands for it
        record["dpv:hasNotice"] = {"@type": "dpv:PrivacyNotice",
                                   "dpv:hasPolicy": _policy_url(row, tenant)}
    return record


# For an event without a notice: the notice of the latest grant it ends.
_ENDED_NOTICE = (
    "SELECT e.notice_id, n.language AS notice_language, n.version AS notice_version,"
    " n.text AS notice_text, n.partners, n.policy_url FROM consent_event e"
    " JOIN notice n ON n.tenant_id = e.tenant_id AND n.id = e.notice_id"
    " WHERE e.tenant_id = {} AND e.contact_id = {} AND e.channel = {} AND e.purpose_id = {}"
    " AND e.seq < {} ORDER BY e.seq DESC LIMIT 1"
)


async def receipt(ctx: TenantContext, event_id: uuid.UUID, fmt: Format) -> dict[str, Any]:
    row, tenant = await _event(ctx, event_id)
    checkpoint = await checkpoints.covering(ctx, int(row["seq"]))
    if fmt == "kantara":
        return kantara(row, tenant, checkpoint)
    ended = None
    if row["notice_id"] is None and row["contact_id"] is not None:
        ended = await db.fetchrow(_ENDED_NOTICE, ctx.tenant_id, row["contact_id"], row["channel"],
                                  row["purpose_id"], int(row["seq"]))
    record = iso27560(row, tenant, checkpoint, ended)
    if row["channel"] == "phone":  # how the phone consent was collected (consent.phone)
        record["dct:provenance"]["optinbase:phoneProof"] = await phone.proof_of(
            ctx, row["id"])
    return record


async def email_after_confirmation(
    ctx: TenantContext, event_ids: list[uuid.UUID]
) -> Optional[uuid.UUID]:
    """Queues one e-mail with the Kantara receipts of the events one
    confirmation made, when the tenant asks for it (setting `receipt_email:
    true`); same transaction as the confirmation."""
    tenant = await repository.tenant_by_id(ctx.tenant_id)
    if tenant is None or not tenant.settings.get("receipt_email") or not event_ids:
        return None
    rows = [(await _event(ctx, event_id))[0] for event_id in event_ids]
    first = rows[0]
    if not first["email"]:
        return None
    language = i18n.choose(tenant, person=contacts.locales(first))
    texts = i18n.texts(language, tenant)
    items = "".join(texts.gettext("mail.receipt.item", purpose=r["purpose_name"],
                                  channel=texts.gettext(CHANNEL_NAMES[r["channel"]]))
                    for r in rows)
    # Signs the head this confirmation just moved; logged once it commits.
    # A ledger contradicting its log gets no checkpoint (the worker reports
    # it): the person's confirmation must not fail for the operator's tampering.
    checkpoint = await checkpoints.publish_unless_refused(ctx)
    documents = [kantara(row, tenant, checkpoint) for row in rows]
    body = texts.gettext("mail.receipt.body", controller=tenant.legal_name or tenant.name,
                         when=first["collected_at"], items=items) + json.dumps(
        documents[0] if len(documents) == 1 else documents, indent=2, ensure_ascii=False)
    return await enqueue_email(
        ctx.tenant_id, to=first["email"],
        subject=texts.gettext("mail.receipt.subject", tenant=tenant.name), text=body + "\n",
        contact_id=first["contact_id"], headers={"Content-Language": language},
        priority=TRANSACTIONAL,  # right after the confirmation the person is looking
    )
