"""Consent receipts: every Kantara CR v1.1 required field present and matching
the ledger event, its notice, purpose and tenant; the ISO/IEC TS 27560 record in
DPV JSON-LD; foreign ids answer like missing ones; the receipt e-mailed after a
double opt-in confirmation when the tenant asks."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid

from optinbase import db
from tests.factories import as_owner, grant, make_contact, make_notice, make_purpose, make_tenant

# Kantara Consent Receipt Specification v1.1.0, section 4 (REQUIRED fields).
TOP = ["version", "jurisdiction", "consentTimestamp", "collectionMethod", "consentReceiptID",
       "language", "piiPrincipalId", "piiControllers", "policyUrl", "services", "sensitive",
       "spiCat"]
CONTROLLER = ["piiController", "contact", "address", "email", "phone"]
PURPOSE = ["purpose", "purposeCategory", "consentType", "piiCategory", "termination",
           "thirdPartyDisclosure", "thirdPartyName"]
SETTINGS = {"address": {"streetAddress": "1 rue de la Paix", "addressLocality": "Paris",
                        "postalCode": "75002"},
            "phone": "+33140000000", "website": "https://acme.example", "default_locale": "fr"}


async def set_tenant(tenant, **settings) -> None:
    async with as_owner():
        current = await db.fetchval("SELECT settings FROM tenant WHERE id = {}", tenant.id)
        current = json.loads(current) if isinstance(current, str) else current
        await db.execute(
            "UPDATE tenant SET legal_name = {}, dpo_email = {}, settings = {} WHERE id = {}",
            "Acme SAS", "dpo@acme.example", json.dumps({**current, **SETTINGS, **settings}),
            tenant.id,
        )


async def _setup(tenant):
    await set_tenant(tenant)
    await make_purpose(tenant, "offers", name="Partner offers",
                       description="Offers from our partners", legal_basis="consent",
                       dpv_purpose="dpv:DirectMarketing")
    notice = await make_notice(tenant, "offers", ("email", "sms"), language="fr",
                               text="J'accepte de recevoir les offres de nos partenaires.",
                               partners=["Partner A", "Partner B"],
                               policy_url="https://acme.example/privacy")
    contact = await make_contact(tenant, phone="+33611223344")
    event = await grant(tenant, contact["id"], notice["id"], purpose="offers",
                        method="web_form", source="https://acme.example/form",
                        collected_at="2026-11-01T10:20:30Z", ip="203.0.113.7")
    return notice, contact, event


async def test_kantara_receipt_matches_the_ledger_event(client):
    tenant = await make_tenant()
    notice, contact, event = await _setup(tenant)
    answer = await client.get(f"/v1/consent-events/{event['id']}/receipt", headers=tenant.headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    receipt = answer.json()
    for name in TOP:
        assert name in receipt, name
    assert receipt["version"] == "KI-CR-v1.1.0"
    assert receipt["jurisdiction"] == "FR"
    collected = dt.datetime.fromisoformat(event["collected_at"].replace("Z", "+00:00"))
    assert receipt["consentTimestamp"] == int(collected.timestamp()) == 1793528430
    assert receipt["collectionMethod"] == "web form"
    assert receipt["consentReceiptID"] == event["id"]
    assert receipt["language"] == notice["language"] == "fr"
    assert receipt["piiPrincipalId"] == contact["email"]
    assert receipt["policyUrl"] == "https://acme.example/privacy"
    assert receipt["sensitive"] is False and receipt["spiCat"] == []
    [controller] = receipt["piiControllers"]
    for name in CONTROLLER:
        assert controller[name], name
    assert controller["piiController"] == "Acme SAS"
    assert controller["email"] == "dpo@acme.example"
    assert controller["phone"] == "+33140000000"
    assert controller["address"]["addressCountry"] == "FR"
    assert controller["address"]["streetAddress"] == "1 rue de la Paix"
    assert controller["piiControllerUrl"] == "https://acme.example"
    [service] = receipt["services"]
    assert service["service"] and "Partner offers" in service["service"]
    [purpose] = service["purposes"]
    for name in PURPOSE:
        assert name in purpose, name
    assert purpose["purpose"].startswith("Partner offers")
    assert purpose["purposeCategory"] == ["dpv:DirectMarketing"]
    assert purpose["consentType"] == "EXPLICIT"
    assert purpose["piiCategory"] == ["e-mail address"]
    assert purpose["primaryPurpose"] is True and purpose["termination"]
    assert purpose["thirdPartyDisclosure"] is True
    assert purpose["thirdPartyName"] == "Partner A, Partner B"
    link = receipt["optinbase"]
    assert (link["hash"], link["prev_hash"], link["seq"]) == (
        event["hash"], event["prev_hash"], event["seq"])
    assert link["notice_sha256"] == notice["text_sha256"]
    assert (link["action"], link["channel"], link["purpose"], link["source"]) == (
        "granted", "email", "offers", "https://acme.example/form")
    explicit = await client.get(f"/v1/consent-events/{event['id']}/receipt?format=kantara",
                                headers=tenant.headers)
    assert explicit.json() == receipt


async def test_iso27560_record_in_dpv_json_ld(client):
    tenant = await make_tenant()
    notice, contact, event = await _setup(tenant)
    answer = await client.get(f"/v1/consent-events/{event['id']}/receipt",
                              params={"format": "iso27560"}, headers=tenant.headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/ld+json")
    record = answer.json()
    assert record["@context"]["dpv"] == "https://w3id.org/dpv#"
    assert record["@type"] == "dpv:ConsentRecord"
    assert record["@id"] == f"urn:uuid:{event['id']}"
    assert record["dct:identifier"] == event["id"]
    assert record["dpv:hasDataSubject"]["@id"] == f"urn:uuid:{contact['id']}"
    assert record["dpv:hasDataController"]["dct:title"] == "Acme SAS"
    assert record["dpv:hasDataController"]["dpv:hasContact"] == "dpo@acme.example"
    assert record["dpv:hasPurpose"]["@type"] == "dpv:DirectMarketing"
    assert record["dpv:hasPurpose"]["dct:identifier"] == "offers"
    assert record["dpv:hasLegalBasis"] == {"@id": "dpv:Consent"}
    assert record["dpv:hasConsentStatus"] == {"@id": "dpv:ConsentGiven"}
    assert record["dpv:isIndicatedAtTime"]["@value"].startswith("2026-11-01T10:20:30")
    assert record["dpv:hasNotice"]["@id"] == f"urn:uuid:{notice['id']}"
    assert record["dpv:hasNotice"]["dct:description"] == notice["text"]
    assert record["dpv:hasNotice"]["dpv:hasPolicy"] == "https://acme.example/privacy"
    assert [r["dct:title"] for r in record["dpv:hasRecipient"]] == ["Partner A", "Partner B"]
    assert record["dct:provenance"]["optinbase:method"] == "web_form"
    assert record["optinbase:ledger"]["hash"] == event["hash"]
    # A withdrawal is recorded as such.
    withdrawn = (await client.post(f"/v1/contacts/{contact['id']}/consents",
                                   headers=tenant.headers, json={
        "channel": "email", "purpose": "offers", "action": "withdraw", "method": "api"})).json()
    record = (await client.get(f"/v1/consent-events/{withdrawn['id']}/receipt",
                               params={"format": "iso27560"}, headers=tenant.headers)).json()
    assert record["dpv:hasConsentStatus"] == {"@id": "dpv:ConsentWithdrawn"}
    # ISO/IEC TS 27560: the notice is mandatory; a withdrawal names the one it ends.
    assert record["dpv:hasNotice"]["@id"] == f"urn:uuid:{notice['id']}"
    kantara = (await client.get(f"/v1/consent-events/{withdrawn['id']}/receipt",
                                headers=tenant.headers)).json()
    assert kantara["optinbase"]["action"] == "withdrawn"
    assert kantara["policyUrl"] == ""  # no notice, no tenant policy_url setting


async def test_foreign_and_missing_events_answer_alike(client):
    a, b = await make_tenant(), await make_tenant()
    _, _, event = await _setup(a)
    for query in ("", "?format=iso27560"):
        foreign = await client.get(f"/v1/consent-events/{event['id']}/receipt{query}",
                                   headers=b.headers)
        missing = await client.get(f"/v1/consent-events/{uuid.uuid4()}/receipt{query}",
                                   headers=b.headers)
        assert foreign.status_code == missing.status_code == 404
        assert foreign.json() == missing.json()


async def test_bad_format_and_scope(client):
    tenant = await make_tenant()
    _, _, event = await _setup(tenant)
    answer = await client.get(f"/v1/consent-events/{event['id']}/receipt?format=pdf",
                              headers=tenant.headers)
    assert answer.status_code in (400, 422) and "format" in answer.text
    from tests.factories import make_key

    key = await make_key(tenant.id, scopes=["contacts:read"])
    denied = await client.get(f"/v1/consent-events/{event['id']}/receipt",
                              headers={"Authorization": f"Bearer {key}"})
    assert denied.status_code == 403


LINK = re.compile(r"http://127\.0\.0\.1:8000/p/confirm/([A-Za-z0-9_-]+)")


async def _mails(tenant) -> list:
    async with db.tenant_transaction(tenant.id, write=False):
        rows = await db.fetch(
            "SELECT recipient, subject, payload FROM outbox_message WHERE tenant_id = {}"
            " AND kind = 'email' ORDER BY created_at", tenant.id)
    return [(r["recipient"], r["subject"], json.loads(r["payload"])
             if isinstance(r["payload"], str) else r["payload"]) for r in rows]


async def double_opt_in(client, tenant, notice, contact) -> None:
    """A double-opt-in grant for `contact` (the tenant's first e-mail), confirmed by its link."""
    requested = await client.post(f"/v1/contacts/{contact['id']}/consents", headers=tenant.headers,
                                  json={"channel": "email", "purpose": "offers", "action": "grant",
                                        "method": "web_form", "notice_id": notice["id"],
                                        "double_opt_in": True})
    assert requested.json()["status"] == "pending"
    [(_, _, confirmation)] = await _mails(tenant)
    token = LINK.search(confirmation["text"]).group(1)
    assert (await client.post(f"/p/confirm/{token}")).status_code == 200


async def test_receipt_emailed_after_confirmation_when_the_tenant_asks(client):
    tenant = await make_tenant()
    notice, contact, _ = await _setup(tenant)
    await set_tenant(tenant, receipt_email=True)
    other = await make_contact(tenant, locale="en")
    await double_opt_in(client, tenant, notice, other)
    mails = await _mails(tenant)
    assert len(mails) == 2
    to, subject, payload = mails[1]
    assert to == other["email"] and "receipt" in subject
    receipt = json.loads(payload["text"][payload["text"].index("{"):])
    events = (await client.get(f"/v1/contacts/{other['id']}/consent-events",
                               headers=tenant.headers)).json()["items"]
    assert events[-1]["action"] == "confirmed"
    assert receipt["consentReceiptID"] == events[-1]["id"]
    assert receipt["collectionMethod"].startswith("double opt-in")
    assert receipt["piiPrincipalId"] == other["email"]


async def test_no_receipt_email_without_the_setting(client):
    tenant = await make_tenant()
    notice, _, _ = await _setup(tenant)
    await double_opt_in(client, tenant, notice, await make_contact(tenant))
    assert len(await _mails(tenant)) == 1
