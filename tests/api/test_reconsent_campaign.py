"""Re-permission campaigns: from a segment of people who agreed to an older
notice, a re-consent e-mail each; the link's page shows the new notice (GET
changes nothing), POST records `granted` under the new version; progress
(sent, confirmed, pending) on the API; those who do not answer keep their old
consent; another tenant's campaign and forged links answer 404."""

from __future__ import annotations

import json
import re

from optinbase import db
from tests.factories import grant, make_contact, make_notice, make_purpose, make_tenant

LINK = re.compile(r"http://[^\s]+/p/reconsent/([A-Za-z0-9_\-]+)")


async def _mails(tenant):
    async with db.tenant_transaction(tenant.id, write=False):
        rows = await db.fetch("SELECT recipient, subject, payload FROM outbox_message"
                              " WHERE tenant_id = {} ORDER BY recipient", tenant.id)
    return {r["recipient"]: (r["subject"], r["payload"] if isinstance(r["payload"], dict)
                             else json.loads(r["payload"])) for r in rows}


async def _world(client):
    tenant = await make_tenant()
    await make_purpose(tenant)
    v1 = await make_notice(tenant, channels=("email",), text="Newsletter, version one.")
    people = {}
    for name in ("anne", "bob", "carl"):
        people[name] = await make_contact(tenant, email=f"{name}@example.org", locale="fr")
        await grant(tenant, people[name]["id"], v1["id"])
    v2 = await make_notice(tenant, channels=("email",), partners=["Acme Media"],
                           text="Newsletter, version two: shared with Acme Media.")
    dora = await make_contact(tenant, email="dora@example.org")
    await grant(tenant, dora["id"], v2["id"])  # already under version 2: not asked
    segment = await client.post("/v1/segments", headers=tenant.headers, json={
        "name": "agreed before v2", "rules": {
            "type": "consent", "channel": "email", "purpose": "newsletter",
            "notice_version": {"lt": 2}}})
    assert segment.status_code == 201, segment.text
    return tenant, v1, v2, people, segment.json()["id"]


async def _states(client, tenant, contact):
    states = (await client.get(f"/v1/contacts/{contact['id']}/consents",
                               headers=tenant.headers)).json()
    return {(s["channel"], s["purpose"]): s for s in states}


async def test_campaign_asks_again_and_records_the_new_version(client):
    tenant, v1, v2, people, segment_id = await _world(client)
    created = await client.post("/v1/reconsent-campaigns", headers=tenant.headers, json={
        "name": "Partners 2026", "segment_id": segment_id, "purpose": "newsletter",
        "notice_id": v2["id"]})
    assert created.status_code == 201, created.text
    campaign = created.json()
    assert (campaign["sent"], campaign["confirmed"], campaign["pending"]) == (3, 0, 3)
    assert campaign["notice_version"] == 2
    mails = await _mails(tenant)
    assert set(mails) == {"anne@example.org", "bob@example.org", "carl@example.org"}
    subject, payload = mails["anne@example.org"]
    assert "consentement" in subject  # Anne's locale is French
    token = LINK.search(payload["text"]).group(1)

    shown = await client.get(f"/p/reconsent/{token}")
    assert shown.status_code == 200
    assert "version two: shared with Acme Media" in shown.text and "Acme Media" in shown.text
    assert 'method="post"' in shown.text
    before = await _states(client, tenant, people["anne"])
    assert before[("email", "newsletter")]["event_id"]  # GET changed nothing:
    assert (await _states(client, tenant, people["anne"])) == before

    confirmed = await client.post(f"/p/reconsent/{token}", headers={"Accept": "application/json"})
    assert confirmed.status_code == 200 and confirmed.json()["state"] == "done"
    state = (await _states(client, tenant, people["anne"]))[("email", "newsletter")]
    assert state["status"] == "granted" and state["event_id"] != before[("email", "newsletter")]["event_id"]
    event = (await client.get(f"/v1/consent-events/{state['event_id']}",
                              headers=tenant.headers)).json()
    assert (event["action"], event["notice_id"], event["method"]) == (
        "granted", v2["id"], "double_opt_in")
    assert event["source"].startswith("re-consent: campaign")
    # Twice is once.
    again = await client.post(f"/p/reconsent/{token}", headers={"Accept": "application/json"})
    assert again.status_code == 200 and again.json()["state"] == "done"

    progress = (await client.get(f"/v1/reconsent-campaigns/{campaign['id']}",
                                 headers=tenant.headers)).json()
    assert (progress["sent"], progress["confirmed"], progress["pending"]) == (3, 1, 2)
    listed = (await client.get("/v1/reconsent-campaigns", headers=tenant.headers)).json()
    assert [c["id"] for c in listed["items"]] == [campaign["id"]]
    # Bob did not answer: his consent under version one stands.
    bob = (await _states(client, tenant, people["bob"]))[("email", "newsletter")]
    assert bob["status"] == "granted"
    count = await client.get(f"/v1/segments/{segment_id}/count", headers=tenant.headers,
                             params={"channel": "email", "purpose": "newsletter"})
    assert count.json()["count"] == 2  # Bob and Carl are still under version 1


async def test_campaign_checks_and_isolation(client):
    tenant, v1, v2, people, segment_id = await _world(client)
    body = {"name": "x", "segment_id": segment_id, "purpose": "newsletter", "notice_id": v2["id"]}
    other = await make_tenant()
    await make_purpose(other)
    other_notice = await make_notice(other, channels=("email",))
    for bad, field in [({"purpose": "nope"}, "purpose"),
                       ({"notice_id": other_notice["id"]}, "notice_id"),
                       ({"segment_id": "00000000-0000-0000-0000-000000000000"}, "segment_id"),
                       ({"channel": "sms"}, "notice_id")]:
        response = await client.post("/v1/reconsent-campaigns", headers=tenant.headers,
                                     json={**body, **bad})
        assert response.status_code == 422, (bad, response.text)
        assert response.json()["errors"][0]["field"] == field
    created = (await client.post("/v1/reconsent-campaigns", headers=tenant.headers,
                                 json=body)).json()
    stranger = await client.get(f"/v1/reconsent-campaigns/{created['id']}",
                                headers=other.headers)
    assert stranger.status_code == 404
    assert (await client.get("/v1/reconsent-campaigns", headers=other.headers)).json()[
        "items"] == []
    token = LINK.search((await _mails(tenant))["bob@example.org"][1]["text"]).group(1)
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert (await client.get(f"/p/reconsent/{forged}")).status_code == 404
    assert (await client.post(f"/p/reconsent/{forged}")).status_code == 404
