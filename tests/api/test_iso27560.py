"""ISO/IEC TS 27560 consent records (DPV JSON-LD): every field the W3C DPV
guide to ISO/IEC TS 27560 ("Consent Records and Receipts as per ISO/IEC TS
27560:2023 using DPV", DPVCG 2024) marks mandatory is present with the right
type, for a grant, a withdrawal and an expiry."""

from __future__ import annotations

import datetime as dt
import re

from consent import expiry
from tenants import envelope
from tests.factories import grant, make_contact, make_notice, make_purpose, make_tenant, record

ISO_DURATION = re.compile(r"^P(T0S|\d+M)$")


def _typed_time(value) -> bool:
    return (isinstance(value, dict) and value["@type"] == "xsd:dateTime"
            and dt.datetime.fromisoformat(value["@value"]).tzinfo is not None)


# Mandatory field (its name in ISO/IEC TS 27560) → DPV property → a type check.
MANDATORY = {
    "schema version": ("dct:conformsTo", lambda v: v["@id"].startswith("https://www.iso.org/")),
    "record id": ("dct:identifier", lambda v: isinstance(v, str) and len(v) == 36),
    "receipt id": ("optinbase:receiptId", lambda v: v.startswith("urn:uuid:")),
    "pii principal id": ("dpv:hasDataSubject",
                         lambda v: v["@type"] == "dpv:DataSubject" and v["dct:identifier"]),
    "privacy notice": ("dpv:hasNotice", lambda v: v["@type"] in ("dpv:ConsentNotice",
                                                                 "dpv:PrivacyNotice")),
    "language": ("dct:language", lambda v: isinstance(v, str) and re.match(r"^[a-z]{2}", v)),
    "purpose": ("dpv:hasPurpose", lambda v: v["dct:identifier"] and v["@type"]),
    "lawful basis": ("dpv:hasLegalBasis", lambda v: v["@id"].startswith("dpv:")),
    "pii information": ("dpv:hasPersonalData",
                        lambda v: isinstance(v, list) and v and all(x["@id"] for x in v)),
    "pii controllers": ("dpv:hasDataController", lambda v: v["@type"] == "dpv:DataController"),
    "processing": ("dpv:hasProcessing", lambda v: isinstance(v, list) and v),
    "storage locations": ("dpv:hasStorageCondition", lambda v: any(
        c["@type"] == "dpv:StorageLocation" and isinstance(c["dpv:hasLocation"], str)
        and c["dpv:hasLocation"] for c in v)),
    "retention period": ("dpv:hasStorageCondition", lambda v: any(
        c["@type"] == "dpv:StorageDuration" and c["dpv:hasDuration"]["@type"] == "xsd:duration"
        and ISO_DURATION.match(c["dpv:hasDuration"]["@value"]) for c in v)),
    "jurisdiction": ("dpv:hasJurisdiction", lambda v: isinstance(v, str) and v),
    "recipient third parties": ("dpv:hasRecipient", lambda v: isinstance(v, list)),
    "withdrawal method": ("dpv:hasConsentControl",
                          lambda v: v["@type"] == "dpv:WithdrawConsent" and v["dct:description"]),
    "event time": ("dct:date", _typed_time),
    "validity duration": ("dct:valid", lambda v: v["@type"] == "xsd:duration"
                          and ISO_DURATION.match(v["@value"])),
    "entity id": ("dpv:isImplementedByEntity",
                  lambda v: v["@type"] in ("dpv:DataSubject", "dpv:DataController")
                  and isinstance(v["dct:identifier"], str)),
    "event type": ("dpv:hasLegalBasis", lambda v: v["@id"] == "dpv:Consent"),
    "event state": ("dpv:hasConsentStatus", lambda v: v["@id"].startswith("dpv:Consent")),
}
# The controller as a party: id, name, address, contact, type.
PARTY = {"dct:identifier": str, "dpv:hasName": str, "dpv:hasAddress": str,
         "dpv:hasContact": str, "@type": str}


def assert_conforms(record: dict) -> None:
    for field, (prop, ok) in MANDATORY.items():
        assert prop in record, f"{field}: {prop} missing"
        assert ok(record[prop]), f"{field}: {prop} = {record[prop]!r}"
    controller = record["dpv:hasDataController"]
    for prop, kind in PARTY.items():
        assert isinstance(controller.get(prop), kind) and controller[prop], prop


async def _record(client, tenant, event_id):
    answer = await client.get(f"/v1/consent-events/{event_id}/receipt",
                              params={"format": "iso27560"}, headers=tenant.headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_grant_withdrawal_and_expiry_records_are_complete(client):
    tenant = await make_tenant()
    await make_purpose(tenant, validity_months=6)
    notice = await make_notice(tenant, channels=("email",), language="fr",
                               text="Oui, envoyez-moi la lettre.", partners=["Acme"])
    anne = await make_contact(tenant, email="anne@example.org")
    granted = await grant(tenant, anne["id"], notice["id"])
    record_ = await _record(client, tenant, granted["id"])
    assert_conforms(record_)
    assert record_["dct:valid"]["@value"] == "P6M"  # the purpose's validity
    assert record_["dct:language"] == "fr"
    assert record_["dpv:isImplementedByEntity"]["@type"] == "dpv:DataController"
    assert [r["dct:title"] for r in record_["dpv:hasRecipient"]] == ["Acme"]

    withdrawn = await record(tenant, anne["id"], "withdraw")
    record_ = await _record(client, tenant, withdrawn["id"])
    assert_conforms(record_)
    assert record_["dpv:hasConsentStatus"]["@id"] == "dpv:ConsentWithdrawn"
    assert record_["dct:language"] == "fr"  # withdrawals carry the language too
    assert record_["dct:valid"]["@value"] == "PT0S"
    assert record_["dpv:hasNotice"]["@id"] == f"urn:uuid:{notice['id']}"

    bob = await make_contact(tenant, email="bob@example.org")
    long_ago = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=200)
    await grant(tenant, bob["id"], notice["id"], collected_at=long_ago.isoformat())
    await envelope.each_tenant("consent expiry", lambda ctx, t: expiry.run(
        ctx, t, dt.datetime.now(dt.timezone.utc)), only=tenant.slug, strict=True)
    events = (await client.get(f"/v1/contacts/{bob['id']}/consent-events",
                               headers=tenant.headers)).json()["items"]
    assert events[-1]["action"] == "expired"
    record_ = await _record(client, tenant, events[-1]["id"])
    assert_conforms(record_)
    assert record_["dpv:hasConsentStatus"]["@id"] == "dpv:ConsentExpired"
    assert record_["dpv:isImplementedByEntity"] == {"@type": "dpv:DataController",
                                                    "dct:identifier": "system"}
