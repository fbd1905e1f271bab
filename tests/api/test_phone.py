"""Phone canvassing through the API: a phone consent needs its proof (agent and
recording for one given during a call), shown with the event and in the ISO
record; the phone check applies the calling rules at `at` with a `reason`;
calls are recorded and count; the contract exception is its own legal basis;
another tenant's contact answers 404."""

from __future__ import annotations

import datetime as dt

from optinbase import db
from tests.calling_times import calling_slot
from tests.factories import make_contact, make_notice, make_purpose, make_tenant

MONDAY_11 = "2030-12-02T11:00:00+01:00"  # a Monday in Paris


async def _phone_world(client):
    tenant = await make_tenant()
    await make_purpose(tenant, "offers")
    script = await make_notice(tenant, "offers", channels=("phone",),
                               text="May we call you about our offers?")
    person = await make_contact(tenant, email="paul@example.org", phone="+33612345678")
    return tenant, script, person


async def _grant(client, tenant, person, script, proof):
    body = {"channel": "phone", "purpose": "offers", "action": "grant", "method": "phone_call",
            "notice_id": script["id"]}
    if proof is not None:
        body["proof"] = proof
    return await client.post(f"/v1/contacts/{person['id']}/consents", headers=tenant.headers,
                             json=body)


async def _check(client, tenant, when, **who):
    answer = await client.get("/v1/consent-check", headers=tenant.headers, params={
        **(who or {"phone": "+33612345678"}), "channel": "phone", "purpose": "offers",
        "at": when})
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_phone_consent_needs_its_proof(client):
    tenant, script, person = await _phone_world(client)
    missing = await _grant(client, tenant, person, script, None)
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "proof"
    no_agent = await _grant(client, tenant, person, script,
                            {"collected_via": "call", "recording_ref": "rec-1"})
    assert no_agent.json()["errors"][0]["field"] == "proof.agent"
    on_email = await client.post(f"/v1/contacts/{person['id']}/consents", headers=tenant.headers,
                                 json={"channel": "email", "purpose": "offers", "action": "grant",
                                       "method": "api", "notice_id": script["id"],
                                       "proof": {"collected_via": "form"}})
    assert on_email.status_code == 422
    proof = {"collected_via": "call", "script_version": "v3", "agent": "Agent 42",
             "recording_ref": "rec-2026-12-01-0042"}
    granted = await _grant(client, tenant, person, script, proof)
    assert granted.status_code == 201, granted.text
    assert granted.json()["proof"] == proof
    event = (await client.get(f"/v1/consent-events/{granted.json()['id']}",
                              headers=tenant.headers)).json()
    assert event["proof"] == proof
    record = (await client.get(f"/v1/consent-events/{granted.json()['id']}/receipt",
                               params={"format": "iso27560"}, headers=tenant.headers)).json()
    assert record["dct:provenance"]["optinbase:phoneProof"] == proof


async def test_calling_rules_answer_with_a_reason(client):
    tenant, script, person = await _phone_world(client)
    await _grant(client, tenant, person, script, {"collected_via": "form"})
    assert (await _check(client, tenant, MONDAY_11))["allowed"] is True
    assert "reason" not in await _check(client, tenant, MONDAY_11)
    for when, reason in [("2030-12-07T11:00:00+01:00", "weekend"),
                         ("2030-12-25T11:00:00+01:00", "public_holiday"),
                         ("2030-12-02T13:30:00+01:00", "outside_calling_hours"),
                         # 19:30 UTC is 20:30 in Paris: the consumer's zone counts.
                         ("2030-12-02T19:30:00Z", "outside_calling_hours")]:
        answer = await _check(client, tenant, when)
        assert (answer["allowed"], answer["status"], answer["reason"]) == (
            False, "granted", reason), when
    naive = await client.get("/v1/consent-check", headers=tenant.headers, params={
        "phone": "+33612345678", "channel": "phone", "purpose": "offers",
        "at": "2030-12-02T11:00:00"})
    assert naive.status_code in (400, 422)
    batch = await client.post("/v1/consent-check", headers=tenant.headers, json={"items": [
        {"phone": "+33612345678", "channel": "phone", "purpose": "offers", "at": MONDAY_11},
        {"phone": "+33612345678", "channel": "phone", "purpose": "offers",
         "at": "2030-12-08T11:00:00+01:00"}]})
    assert [(r["allowed"], r.get("reason")) for r in batch.json()["results"]] == [
        (True, None), (False, "weekend")]


async def test_calls_count_and_a_refusal_pauses(client):
    tenant, script, person = await _phone_world(client)
    await _grant(client, tenant, person, script, {"collected_via": "in_store"})
    url = f"/v1/contacts/{person['id']}/contact-attempts"
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    for days in (4, 3, 2, 1):
        made = await client.post(url, headers=tenant.headers, json={
            "outcome": "no_answer", "at": (now - dt.timedelta(days=days)).isoformat(),
            "purpose": "offers", "agent": "Agent 7"})
        assert made.status_code == 201, made.text
    listed = (await client.get(url, headers=tenant.headers)).json()
    assert [a["outcome"] for a in listed] == ["no_answer"] * 4
    # A fifth call within thirty days of the first: refused, whatever the hour.
    slot = calling_slot(now + dt.timedelta(hours=1))
    answer = await _check(client, tenant, slot.isoformat())
    assert answer["allowed"] is False and answer["reason"] == "too_many_attempts"

    other = await make_contact(tenant, phone="+33687654329")
    await _grant(client, tenant, other, script, {"collected_via": "form"})
    refused = await client.post(f"/v1/contacts/{other['id']}/contact-attempts",
                                headers=tenant.headers, json={"outcome": "refused"})
    assert refused.status_code == 201
    paused = await _check(client, tenant, slot.isoformat(), phone="+33687654329")
    assert paused["reason"] == "refused_recently"
    later = calling_slot(slot + dt.timedelta(days=60))
    assert (await _check(client, tenant, later.isoformat(), phone="+33687654329"))["allowed"]

    future = await client.post(url, headers=tenant.headers, json={
        "outcome": "answered", "at": (now + dt.timedelta(days=2)).isoformat()})
    assert future.status_code == 422 and future.json()["errors"][0]["field"] == "at"


async def test_contract_purpose_and_isolation(client):
    tenant = await make_tenant()
    contract = await client.post("/v1/purposes", headers=tenant.headers, json={
        "key": "my-contract", "name": "About your contract", "legal_basis": "contract"})
    assert contract.json()["legal_basis"] == "contract"
    script = await make_notice(tenant, "my-contract", channels=("phone",),
                               text="Calls about your current contract.")
    person = await make_contact(tenant, phone="+33611111111")
    granted = await client.post(f"/v1/contacts/{person['id']}/consents", headers=tenant.headers,
                                json={"channel": "phone", "purpose": "my-contract",
                                      "action": "grant", "method": "admin",
                                      "notice_id": script["id"],
                                      "proof": {"collected_via": "form"}})
    assert granted.status_code == 201, granted.text
    record = (await client.get(f"/v1/consent-events/{granted.json()['id']}/receipt",
                               params={"format": "iso27560"}, headers=tenant.headers)).json()
    assert record["dpv:hasLegalBasis"] == {"@id": "dpv:Contract"}  # not consent
    # The calling rules apply to contract calls too.
    answer = (await client.get("/v1/consent-check", headers=tenant.headers, params={
        "contact_id": person["id"], "channel": "phone", "purpose": "my-contract",
        "at": "2030-12-07T11:00:00+01:00"})).json()
    assert answer["reason"] == "weekend"

    stranger = await make_tenant()
    for method, extra in (("post", {"json": {"outcome": "answered"}}), ("get", {})):
        foreign = await getattr(client, method)(
            f"/v1/contacts/{person['id']}/contact-attempts", headers=stranger.headers, **extra)
        assert foreign.status_code == 404


async def test_erasure_takes_the_phone_proof_and_the_calls(client):
    tenant, script, person = await _phone_world(client)
    granted = (await _grant(client, tenant, person, script, {
        "collected_via": "call", "agent": "Agent 42", "recording_ref": "rec-secret-77"})).json()
    await client.post(f"/v1/contacts/{person['id']}/contact-attempts", headers=tenant.headers,
                      json={"outcome": "answered", "agent": "Agent 42"})
    assert (await client.delete(f"/v1/contacts/{person['id']}",
                                headers=tenant.headers)).status_code == 204
    async with db.tenant_transaction(tenant.id, write=False):
        left = [await db.fetchval(f"SELECT count(*) FROM {table} WHERE tenant_id = {{}}",
                                  tenant.id) for table in ("phone_proof", "contact_attempt")]
    assert left == [0, 0]
    event = (await client.get(f"/v1/consent-events/{granted['id']}",
                              headers=tenant.headers)).json()
    assert "proof" not in event and event["contact_id"] is None
