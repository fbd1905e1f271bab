"""Data-subject requests through the integrator API, on both engines: intake,
verification, duplicates, deadlines and extensions, each kind's execution, the
trail, and another tenant's ids answering as if they did not exist."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import uuid
import zipfile

from optinbase import db
from tests.factories import grant, make_notice, make_purpose, make_tenant, make_world

VERIFY_LINK = re.compile(r"/p/requests/verify/([A-Za-z0-9_-]+)")


async def _request(client, tenant, status=201, **body):
    answer = await client.post("/v1/requests", json=body, headers=tenant.headers)
    assert answer.status_code == status, answer.text
    return answer.json()


async def _outbox(tenant, recipient=None):
    async with db.tenant_transaction(tenant.id, write=False):
        rows = await db.fetch(
            "SELECT recipient, subject, payload FROM outbox_message WHERE tenant_id = {}"
            " AND kind = 'email' ORDER BY created_at", tenant.id)
    mails = [{**dict(r), "payload": json.loads(r["payload"]) if isinstance(r["payload"], str)
              else r["payload"]} for r in rows]
    return [m for m in mails if recipient is None or m["recipient"] == recipient]


async def _check(client, world, channel="email", purpose="newsletter"):
    return (await client.get("/v1/consent-check", params={
        "contact_id": world.contact["id"], "channel": channel, "purpose": purpose},
        headers=world.tenant.headers)).json()


async def _shift(tenant, request_id, **columns):
    """Moves a request's dates, as time passing would."""
    async with db.tenant_transaction(tenant.id):
        for name, value in columns.items():
            await db.execute(f"UPDATE data_subject_request SET {name} = {{}}"
                             " WHERE tenant_id = {} AND id = {}", value, tenant.id, request_id)


async def test_intake_sends_a_verification_link_and_completion_waits_for_it(client):
    world = await make_world(await make_tenant())
    email = world.contact["email"]
    request = await _request(client, world.tenant, kind="withdrawal", email=email.upper())
    assert request["status"] == "unverified" and request["source"] == "api"
    assert request["email"] == email  # normalised
    assert request["contact_id"] is None  # not told before verification
    received = dt.datetime.fromisoformat(request["received_at"])
    assert dt.datetime.fromisoformat(request["due_at"]) > received + dt.timedelta(days=27)
    [mail] = await _outbox(world.tenant, email)
    assert VERIFY_LINK.search(mail["payload"]["text"])

    refused = await client.post(f"/v1/requests/{request['id']}/complete", json={},
                                headers=world.tenant.headers)
    assert refused.status_code == 409 and "not verified" in refused.json()["detail"]

    verified = await client.post(f"/v1/requests/{request['id']}/verify",
                                 json={"note": "called back on the number on file"},
                                 headers=world.tenant.headers)
    assert verified.status_code == 200, verified.text
    assert verified.json()["verification"] == "api"
    assert verified.json()["contact_id"] == world.contact["id"]
    assert (await client.post(f"/v1/requests/{request['id']}/verify",
                              headers=world.tenant.headers)).status_code == 409

    done = await client.post(f"/v1/requests/{request['id']}/complete",
                             headers=world.tenant.headers)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "completed"
    check = await _check(client, world)
    assert check["allowed"] is False and check["status"] == "withdrawn"
    events = (await client.get(f"/v1/contacts/{world.contact['id']}/consent-events",
                               headers=world.tenant.headers)).json()["items"]
    assert events[-1]["action"] == "withdrawn" and events[-1]["method"] == "dsr"

    trail = (await client.get(f"/v1/requests/{request['id']}",
                              headers=world.tenant.headers)).json()["events"]
    assert [e["action"] for e in trail] == [
        "received", "verification_sent", "verified", "completed", "person_informed"]
    assert all(e["actor"].startswith("api_key:") for e in trail)
    completion = (await _outbox(world.tenant, email))[-1]
    assert "/p/requests/status/" in completion["payload"]["text"]


async def test_attested_identity_duplicates_and_validation(client):
    world = await make_world(await make_tenant())
    first = await _request(client, world.tenant, kind="access", phone="06 12 34 56 78",
                           identity_verified=True)
    assert first["status"] == "verified" and first["phone"] == "+33612345678"
    assert first["contact_id"] == world.contact["id"]
    again = await _request(client, world.tenant, 409, kind="access", phone="+33612345678")
    assert again["existing_id"] == first["id"]
    other_kind = await _request(client, world.tenant, kind="objection", phone="+33612345678")
    assert other_kind["id"] != first["id"]

    for body, field in [
        ({"kind": "access"}, "email"),
        ({"kind": "access", "email": "a@example.com", "phone": "+33612345678"}, "email"),
        ({"kind": "access", "email": "not an address"}, "email"),
        ({"kind": "sightseeing", "email": "a@example.com"}, "kind"),
        ({"kind": "access", "email": "a@example.com", "colour": "red"}, "colour"),
        ({"kind": "access", "email": "a@example.com", "changes": {"first_name": "X"}}, "changes"),
    ]:
        answer = await client.post("/v1/requests", json=body, headers=world.tenant.headers)
        assert answer.status_code in (400, 422), (body, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert field in answer.text, (body, answer.text)
    async with db.tenant_transaction(world.tenant.id, write=False):
        assert await db.fetchval("SELECT count(*) FROM data_subject_request WHERE tenant_id = {}",
                                 world.tenant.id) == 2


async def test_extension_within_the_first_month_tells_the_person(client):
    world = await make_world(await make_tenant())
    request = await _request(client, world.tenant, kind="access", email=world.contact["email"],
                             identity_verified=True, locale="fr")
    received = dt.datetime.fromisoformat(request["received_at"])
    extended = await client.post(f"/v1/requests/{request['id']}/extend", json={
        "months": 1, "reason": "many systems to search"}, headers=world.tenant.headers)
    assert extended.status_code == 200, extended.text
    body = extended.json()
    assert body["extended_months"] == 1 and body["extension_reason"] == "many systems to search"
    from consent.requests.deadlines import due_at
    assert dt.datetime.fromisoformat(body["due_at"]) == due_at(received, 1)
    mail = (await _outbox(world.tenant, world.contact["email"]))[-1]
    assert "prolongé" in mail["subject"] and "many systems to search" in mail["payload"]["text"]

    too_much = await client.post(f"/v1/requests/{request['id']}/extend", json={
        "months": 2, "reason": "still more"}, headers=world.tenant.headers)
    assert too_much.status_code == 409 and "at most 2" in too_much.json()["detail"]
    for body in ({"months": 3, "reason": "x"}, {"months": 1, "reason": ""}, {"months": 1}):
        answer = await client.post(f"/v1/requests/{request['id']}/extend", json=body,
                                   headers=world.tenant.headers)
        assert answer.status_code in (400, 422), answer.text

    late = await _request(client, world.tenant, kind="withdrawal", email=world.contact["email"],
                          identity_verified=True)
    await _shift(world.tenant, late["id"],
                 received_at=received - dt.timedelta(days=40))
    refused = await client.post(f"/v1/requests/{late['id']}/extend", json={
        "months": 1, "reason": "too late"}, headers=world.tenant.headers)
    assert refused.status_code == 409 and "first month" in refused.json()["detail"]


async def test_overdue_and_due_soon_lists(client):
    tenant = await make_tenant()
    now = dt.datetime.now(dt.timezone.utc)
    ids = {}
    for name, due in (("late", now - dt.timedelta(days=1)), ("soon", now + dt.timedelta(days=3)),
                      ("later", now + dt.timedelta(days=20))):
        ids[name] = (await _request(client, tenant, kind="access",
                                    email=f"{name}@example.com"))["id"]
        await _shift(tenant, ids[name], due_at=due)
    closed = await _request(client, tenant, kind="erasure", email="gone@example.com",
                            identity_verified=True)
    await client.post(f"/v1/requests/{closed['id']}/complete", headers=tenant.headers)
    await _shift(tenant, closed["id"], due_at=now - dt.timedelta(days=5))

    async def listed(status):
        answer = await client.get("/v1/requests", params={"status": status}, headers=tenant.headers)
        assert answer.status_code == 200, answer.text
        return [r["id"] for r in answer.json()["items"]]

    assert await listed("overdue") == [ids["late"]]
    assert await listed("due_soon") == [ids["soon"]]
    assert await listed("open") == [ids["late"], ids["soon"], ids["later"]]
    assert await listed("completed") == [closed["id"]]
    late = (await client.get(f"/v1/requests/{ids['late']}", headers=tenant.headers)).json()
    assert late["overdue"] is True
    assert (await client.get("/v1/requests", params={"status": "bogus"},
                             headers=tenant.headers)).status_code == 422
    page = (await client.get("/v1/requests", params={"limit": 2}, headers=tenant.headers)).json()
    rest = (await client.get("/v1/requests", params={"limit": 2, "cursor": page["next_cursor"]},
                             headers=tenant.headers)).json()
    assert [r["id"] for r in page["items"] + rest["items"]] == [
        closed["id"], ids["late"], ids["soon"], ids["later"]]


async def test_access_package_holds_the_persons_data_with_proof(client):
    world = await make_world(await make_tenant())
    tenant = world.tenant
    segment = await client.post("/v1/segments", json={"name": "French", "rules": {
        "type": "field", "field": "phone", "op": "prefix", "value": "+33"}}, headers=tenant.headers)
    other = await client.post("/v1/segments", json={"name": "Belgian", "rules": {
        "type": "field", "field": "country", "op": "eq", "value": "BE"}}, headers=tenant.headers)
    assert segment.status_code == other.status_code == 201
    request = await _request(client, tenant, kind="portability", email=world.contact["email"],
                             identity_verified=True)
    done = await client.post(f"/v1/requests/{request['id']}/complete", headers=tenant.headers)
    assert done.status_code == 200, done.text
    assert done.json()["package_expires_at"] is not None

    answer = await client.get(f"/v1/requests/{request['id']}/package", headers=tenant.headers)
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(answer.content))
    assert {"README.txt", "data.json", "contact.csv", "consent_states.csv", "consent_events.csv",
            "purposes.csv", "segments.csv", "requests.csv"} <= set(archive.namelist())
    data = json.loads(archive.read("data.json"))
    assert data["contact"]["email"] == world.contact["email"]
    [event] = data["consent_events"]
    assert event["ip"] == "203.0.113.9" and event["notice_text"] == world.notice["text"]
    assert event["action"] == "granted" and event["purpose"] == "newsletter"
    assert [s["name"] for s in data["segments"]] == ["French"]
    assert [r["id"] for r in data["requests"]] == [request["id"]]
    info = data["information"]
    assert any("Art. 77" in right for right in info["rights"])
    assert "36 months" in info["storage_period"]
    assert world.contact["email"] in archive.read("contact.csv").decode()
    mail = (await _outbox(tenant, world.contact["email"]))[-1]
    assert "/p/requests/package/" in mail["payload"]["text"]

    await _shift(tenant, request["id"],
                 package_expires_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1))
    assert (await client.get(f"/v1/requests/{request['id']}/package",
                             headers=tenant.headers)).status_code == 410


async def test_unknown_person_gets_an_empty_package(client):
    tenant = await make_tenant()
    request = await _request(client, tenant, kind="access", email="nobody@example.com",
                             identity_verified=True)
    done = (await client.post(f"/v1/requests/{request['id']}/complete",
                              headers=tenant.headers)).json()
    # In the person's language: none given, so the tenant's default (French).
    assert done["outcome"] == "Nous ne détenons aucune donnée personnelle vous concernant."
    answer = await client.get(f"/v1/requests/{request['id']}/package", headers=tenant.headers)
    assert json.loads(zipfile.ZipFile(io.BytesIO(answer.content)).read("data.json"))["contact"] is None


async def test_objection_withdraws_marketing_and_suppresses(client):
    world = await make_world(await make_tenant())
    tenant = world.tenant
    await make_purpose(tenant, "billing", name="Invoices", legal_basis="contract",
                       dpv_purpose="dpv:ServiceProvision")
    notice = await make_notice(tenant, purpose="billing", channels=("email",))
    await grant(tenant, world.contact["id"], notice["id"], purpose="billing")
    request = await _request(client, tenant, kind="objection", email=world.contact["email"],
                             identity_verified=True)
    assert (await client.post(f"/v1/requests/{request['id']}/complete",
                              headers=tenant.headers)).status_code == 200
    marketing = await _check(client, world)
    assert marketing["allowed"] is False and marketing["status"] == "withdrawn"
    assert marketing["suppressed"] is True
    service = await _check(client, world, purpose="billing")
    assert service["status"] == "granted"  # not marketing: kept, though the person is suppressed
    listed = await client.get("/v1/suppressions/check", params={"email": world.contact["email"]},
                              headers=tenant.headers)
    assert listed.json()["suppressed"] is True


async def test_rectification_applies_the_approved_changes(client):
    world = await make_world(await make_tenant())
    request = await _request(client, world.tenant, kind="rectification",
                             email=world.contact["email"], identity_verified=True,
                             changes={"first_name": "Anne", "postal_code": "75011"})
    assert request["changes"] == {"first_name": "Anne", "postal_code": "75011"}
    done = await client.post(f"/v1/requests/{request['id']}/complete", json={
        "changes": {"first_name": "Anne-Marie"}, "reason": "postal code already right"},
        headers=world.tenant.headers)
    assert done.status_code == 200, done.text
    contact = (await client.get(f"/v1/contacts/{world.contact['id']}",
                                headers=world.tenant.headers)).json()
    assert contact["first_name"] == "Anne-Marie" and contact["postal_code"] is None
    assert done.json()["outcome"] == "postal code already right"


async def test_restriction_keeps_the_contact_out_of_checks_counts_and_exports(client):
    world = await make_world(await make_tenant())
    tenant = world.tenant
    segment = (await client.post("/v1/segments", json={"name": "All", "rules": {
        "type": "all", "rules": []}}, headers=tenant.headers)).json()
    params = {"channel": "email", "purpose": "newsletter"}
    count = await client.get(f"/v1/segments/{segment['id']}/count", params=params,
                             headers=tenant.headers)
    assert count.json()["count"] == 1
    request = await _request(client, tenant, kind="restriction", email=world.contact["email"],
                             identity_verified=True)
    assert (await client.post(f"/v1/requests/{request['id']}/complete",
                              headers=tenant.headers)).status_code == 200
    check = await _check(client, world)
    assert check["allowed"] is False and check["restricted"] is True
    assert check["status"] == "granted"  # the consent itself stands
    count = await client.get(f"/v1/segments/{segment['id']}/count", params=params,
                             headers=tenant.headers)
    assert count.json()["count"] == 0
    export = await client.get(f"/v1/segments/{segment['id']}/export",
                              params={**params, "format": "ndjson"}, headers=tenant.headers)
    assert export.status_code == 200 and world.contact["email"] not in export.text
    kept = await client.get(f"/v1/contacts/{world.contact['id']}", headers=tenant.headers)
    assert kept.status_code == 200  # the data is kept

    other = await make_tenant()
    foreign = await client.delete(f"/v1/contacts/{world.contact['id']}/restriction",
                                  headers=other.headers)
    missing = await client.delete(f"/v1/contacts/{uuid.uuid4()}/restriction", headers=other.headers)
    assert foreign.status_code == missing.status_code == 404 and foreign.json() == missing.json()
    lifted = await client.delete(f"/v1/contacts/{world.contact['id']}/restriction",
                                 headers=tenant.headers)
    assert lifted.status_code == 204
    assert (await _check(client, world))["allowed"] is True
    told = (await _outbox(tenant, world.contact["email"]))[-1]
    assert "restriction" in told["subject"] or "limitation" in told["subject"]


async def test_erasure_request_leaves_only_the_keyed_hash(client):
    world = await make_world(await make_tenant())
    tenant = world.tenant
    email = world.contact["email"]
    request = await _request(client, tenant, kind="erasure", email=email, note=f"I am {email}")
    await client.post(f"/v1/requests/{request['id']}/verify", headers=tenant.headers)
    done = await client.post(f"/v1/requests/{request['id']}/complete", headers=tenant.headers)
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["status"] == "completed" and body["email"] is None and body["note"] == ""
    assert body["contact_id"] is None
    assert (await client.get(f"/v1/contacts/{world.contact['id']}",
                             headers=tenant.headers)).status_code == 404
    assert await _outbox(tenant, email) == []  # the verification e-mail went too
    again = await client.post("/v1/contacts", json={"email": email}, headers=tenant.headers)
    listed = await client.get("/v1/suppressions/check", params={"email": email},
                              headers=tenant.headers)
    assert listed.json()["suppressed"] is True
    assert again.status_code == 422  # suppression wins: the erased address cannot come back
    async with db.tenant_transaction(tenant.id, write=False):
        rows = await db.fetch("SELECT * FROM data_subject_request WHERE tenant_id = {}", tenant.id)
    assert email not in repr([dict(r) for r in rows])


async def _trail(client, tenant, request_id) -> tuple[str, list[tuple[str, dict]]]:
    got = (await client.get(f"/v1/requests/{request_id}", headers=tenant.headers)).json()
    return got["status"], [(e["action"], e["details"]) for e in got["events"]]


async def test_erasing_a_contact_closes_their_other_open_requests(client):
    """Nothing is left to give or change, and nobody could be written to: a
    verified request is completed by the erasure, an unverified one lapses."""
    world = await make_world(await make_tenant())
    tenant, email = world.tenant, world.contact["email"]
    access = await _request(client, tenant, kind="access", email=email, identity_verified=True)
    objection = await _request(client, tenant, kind="objection", email=email)
    assert objection["status"] == "unverified"
    other = await make_world(await make_tenant())  # another person's request stays as it is
    theirs = await _request(client, other.tenant, kind="access", email=other.contact["email"],
                            identity_verified=True)

    gone = await client.delete(f"/v1/contacts/{world.contact['id']}", headers=tenant.headers)
    assert gone.status_code == 204, gone.text
    status, trail = await _trail(client, tenant, access["id"])
    assert status == "completed" and trail[-1] == ("completed", {"by": "erasure"})
    closed = (await client.get(f"/v1/requests/{access['id']}", headers=tenant.headers)).json()
    assert "erased" in closed["outcome"] and closed["email"] is None and closed["closed_at"]
    status, trail = await _trail(client, tenant, objection["id"])
    assert status == "lapsed" and trail[-1][0] == "lapsed"
    assert (await _trail(client, other.tenant, theirs["id"]))[0] == "verified"
    listed = (await client.get("/v1/requests", params={"status": "open"},
                               headers=tenant.headers)).json()["items"]
    assert listed == []


async def test_an_erasure_request_closes_itself_once_and_the_others_by_erasure(client):
    world = await make_world(await make_tenant())
    tenant, email = world.tenant, world.contact["email"]
    access = await _request(client, tenant, kind="access", email=email, identity_verified=True)
    erasure = await _request(client, tenant, kind="erasure", email=email, identity_verified=True)
    done = await client.post(f"/v1/requests/{erasure['id']}/complete", headers=tenant.headers)
    assert done.status_code == 200, done.text
    status, trail = await _trail(client, tenant, erasure["id"])
    assert status == "completed" and [a for a, _ in trail].count("completed") == 1
    assert ("completed", {"by": "erasure"}) not in trail
    status, trail = await _trail(client, tenant, access["id"])
    assert status == "completed" and trail[-1] == ("completed", {"by": "erasure"})


async def test_rejection_needs_a_reason_and_tells_the_person(client):
    world = await make_world(await make_tenant())
    request = await _request(client, world.tenant, kind="access", email=world.contact["email"],
                             locale="en")
    missing = await client.post(f"/v1/requests/{request['id']}/reject", json={},
                                headers=world.tenant.headers)
    assert missing.status_code == 422 and "reason" in missing.text
    rejected = await client.post(f"/v1/requests/{request['id']}/reject", json={
        "reason": "manifestly unfounded: the fifth identical request this week"},
        headers=world.tenant.headers)
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    mail = (await _outbox(world.tenant, world.contact["email"]))[-1]
    assert "refused" in mail["subject"] and "supervisory" in mail["payload"]["text"]
    assert (await client.post(f"/v1/requests/{request['id']}/complete",
                              headers=world.tenant.headers)).status_code == 409


async def test_another_tenants_request_does_not_exist(client):
    world = await make_world(await make_tenant())
    other = await make_tenant()
    request = await _request(client, world.tenant, kind="access", email=world.contact["email"],
                             identity_verified=True)
    await client.post(f"/v1/requests/{request['id']}/complete", headers=world.tenant.headers)
    base = f"/v1/requests/{request['id']}"
    for method, path, body in [
        ("GET", base, None), ("GET", f"{base}/package", None),
        ("POST", f"{base}/verify", {}), ("POST", f"{base}/extend", {"months": 1, "reason": "x"}),
        ("POST", f"{base}/complete", {}), ("POST", f"{base}/reject", {"reason": "x"}),
    ]:
        answer = await client.request(method, path, json=body, headers=other.headers)
        assert answer.status_code == 404, (method, path, answer.text)
        assert answer.json()["detail"] == "request not found"
    listed = await client.get("/v1/requests", headers=other.headers)
    assert listed.json()["items"] == []
    # Same e-mail at another tenant: a separate person, no duplicate.
    assert (await _request(client, other, kind="access", email=world.contact["email"]))["id"]


async def test_scopes(client):
    tenant = await make_tenant(scopes=["requests:read"])
    answer = await client.post("/v1/requests", json={"kind": "access", "email": "a@example.com"},
                               headers=tenant.headers)
    assert answer.status_code == 403
    assert (await client.get("/v1/requests", headers=tenant.headers)).status_code == 200


async def test_tenant_settings_drive_request_and_retention_delays(client):
    tenant = await make_tenant()
    changed = await client.patch("/v1/tenant", json={
        "dpo_email": "DPO@Example.COM", "settings": {
            "package_days": 7, "retention_months": 24, "request_verification_hours": 48}},
        headers=tenant.headers)
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["dpo_email"] == "dpo@example.com"
    assert body["settings"]["package_days"] == 7 and body["settings"]["retention_months"] == 24
    assert body["settings"]["confirmation_token_hours"] == 72  # merged, not replaced
    audit = (await client.get("/v1/audit-events", headers=tenant.headers)).json()["items"]
    assert audit[-1]["action"] == "tenant.updated"
    assert audit[-1]["details"] == {"fields": ["dpo_email", "settings"],
                                    "settings": ["package_days", "request_verification_hours",
                                                 "retention_months"]}
    for bad in ({"settings": {"retention_month": 12}}, {"settings": {"package_days": 0}},
                {"settings": {"retention_months": 1}}, {"settings": {"repermission_days": 1}},
                {"country": "France"}, {"slug": "other"}, {"dpo_email": "nope"}):
        answer = await client.patch("/v1/tenant", json=bad, headers=tenant.headers)
        assert answer.status_code in (400, 422), (bad, answer.text)
    reader = await make_tenant(scopes=["requests:write"])
    assert (await client.patch("/v1/tenant", json={"name": "X"},
                               headers=reader.headers)).status_code == 403
    request = await _request(client, tenant, kind="access", email="p@example.com",
                             identity_verified=True)
    done = (await client.post(f"/v1/requests/{request['id']}/complete",
                              headers=tenant.headers)).json()
    kept = (dt.datetime.fromisoformat(done["package_expires_at"])
            - dt.datetime.fromisoformat(done["closed_at"]))
    assert dt.timedelta(days=6, hours=23) < kept <= dt.timedelta(days=7)


async def test_closing_a_request_queues_the_webhook_without_personal_data(client):
    world = await make_world(await make_tenant())
    hook = await client.post("/v1/webhooks", json={"url": "https://crm.example/hooks",
                                                  "events": ["request.completed"]},
                             headers=world.tenant.headers)
    assert hook.status_code == 201, hook.text
    done = await _request(client, world.tenant, kind="access", email=world.contact["email"],
                          identity_verified=True)
    await client.post(f"/v1/requests/{done['id']}/complete", headers=world.tenant.headers)
    refused = await _request(client, world.tenant, kind="erasure", email=world.contact["email"])
    await client.post(f"/v1/requests/{refused['id']}/reject", json={"reason": "not the holder"},
                      headers=world.tenant.headers)
    async with db.tenant_transaction(world.tenant.id, write=False):
        rows = await db.fetch("SELECT payload FROM outbox_message WHERE tenant_id = {}"
                              " AND kind = 'webhook' ORDER BY created_at", world.tenant.id)
    bodies = [json.loads(r["payload"]) if isinstance(r["payload"], str) else r["payload"]
              for r in rows]
    events = [json.loads(b["body"]) if isinstance(b.get("body"), str) else b for b in bodies]
    assert [(e["type"], e["data"]["request_id"], e["data"]["status"]) for e in events] == [
        ("request.completed", done["id"], "completed"),
        ("request.completed", refused["id"], "rejected")]
    assert world.contact["email"] not in json.dumps(bodies)


async def test_concurrent_submissions_and_completions_happen_once(client):
    import asyncio

    world = await make_world(await make_tenant())
    body = {"kind": "withdrawal", "email": world.contact["email"], "identity_verified": True}
    answers = await asyncio.gather(*(client.post("/v1/requests", json=body,
                                                 headers=world.tenant.headers) for _ in range(4)))
    assert sorted(a.status_code for a in answers) == [201, 409, 409, 409]
    [created] = [a.json() for a in answers if a.status_code == 201]
    assert {a.json()["existing_id"] for a in answers if a.status_code == 409} == {created["id"]}
    done = await asyncio.gather(*(client.post(f"/v1/requests/{created['id']}/complete",
                                              headers=world.tenant.headers) for _ in range(3)))
    assert sorted(a.status_code for a in done) == [200, 409, 409]
    events = (await client.get(f"/v1/contacts/{world.contact['id']}/consent-events",
                               headers=world.tenant.headers)).json()["items"]
    assert [e["action"] for e in events] == ["granted", "withdrawn"]  # withdrawn once


async def test_erasure_of_an_unknown_address_leaves_no_replayable_answer(client):
    tenant = await make_tenant()
    email, note = "never.seen@example.org", "I am Ysolde Marchetti"
    request = await client.post("/v1/requests", json={
        "kind": "erasure", "email": email, "note": note, "identity_verified": True},
        headers={**tenant.headers, "Idempotency-Key": "erase-1"})
    assert request.status_code == 201
    request_id = request.json()["id"]
    await client.post(f"/v1/requests/{request_id}/extend", json={
        "months": 1, "reason": "asking Ysolde Marchetti's bank"}, headers=tenant.headers)
    done = await client.post(f"/v1/requests/{request_id}/complete", json={
        "reason": "erased Ysolde Marchetti"}, headers=tenant.headers)
    assert done.status_code == 200, done.text
    async with db.tenant_transaction(tenant.id, write=False):
        rows = [dict(r) for table in ("data_subject_request", "request_event",
                                      "idempotency_record", "outbox_message", "audit_event")
                for r in await db.fetch(f"SELECT * FROM {table} WHERE tenant_id = {{}}", tenant.id)]
    dumped = repr(rows)
    assert email not in dumped and "Marchetti" not in dumped
    listed = await client.get("/v1/suppressions/check", params={"email": email},
                              headers=tenant.headers)
    assert listed.json()["suppressed"] is True


async def test_an_extension_nobody_can_be_told_of_is_on_the_trail(client):
    tenant = await make_tenant()
    request = await _request(client, tenant, kind="access", phone="+33 6 00 00 00 99",
                             identity_verified=True)
    extended = await client.post(f"/v1/requests/{request['id']}/extend", json={
        "months": 1, "reason": "paper archives"}, headers=tenant.headers)
    assert extended.status_code == 200
    assert extended.json()["events"][-1]["action"] == "person_not_informed"
