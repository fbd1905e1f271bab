"""POST /v1/imports and GET /v1/imports/{id}, on both engines: rows in, rows
rejected with line/column/reason, re-imports update, suppression respected,
malformed files refused whole."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid

import pytest

from tests.factories import make_contact, make_notice, make_tenant, make_world, record

HEADER = "email,phone,external_id,first_name,attributes.tier,consent_channel,consent_purpose,notice_id,collected_at,ip\n"
WHEN = "2026-01-15T10:00:00Z"


async def post_import(client, tenant, body, content_type="text/csv", **headers):
    return await client.post(
        "/v1/imports", content=body.encode() if isinstance(body, str) else body,
        headers={**tenant.headers, "Content-Type": content_type, **headers},
    )


async def snapshot(client, tenant) -> tuple:
    contacts = (await client.get("/v1/contacts", params={"limit": 500}, headers=tenant.headers)).json()
    ledger = (await client.get("/v1/ledger/verify", headers=tenant.headers)).json()
    assert ledger["ok"], ledger
    return sorted((c["id"], c["updated_at"]) for c in contacts["items"]), ledger["events"]


async def contact_by(client, tenant, **query) -> dict:
    items = (await client.get("/v1/contacts", params=query, headers=tenant.headers)).json()["items"]
    assert len(items) == 1, items
    return items[0]


async def states(client, tenant, contact_id) -> dict:
    rows = (await client.get(f"/v1/contacts/{contact_id}/consents", headers=tenant.headers)).json()
    return {(s["channel"], s["purpose"]): s["status"] for s in rows}


async def test_csv_import_creates_contacts_events_and_states(client):
    world = await make_world(await make_tenant())
    notice = world.notice["id"]
    body = HEADER + (
        f"Anne@Example.FR,06 12 34 56 01,crm-1,Anne,gold,email,newsletter,{notice},{WHEN},203.0.113.7\n"
        f"anne@example.fr,,,,,sms,newsletter,{notice},{WHEN},\n"  # same person, second consent
        f"bob@example.com,,,Bob,,,,,,\n"  # contact only
    )
    response = await post_import(client, world.tenant, body)
    assert response.status_code == 202, response.text
    job = response.json()
    assert (job["status"], job["total"], job["created"], job["updated"], job["rejected"]) == (
        "done", 3, 2, 1, 0)
    assert (await client.get(f"/v1/imports/{job['id']}", headers=world.tenant.headers)).json() == job
    anne = await contact_by(client, world.tenant, email="anne@example.fr")
    assert (anne["phone"], anne["external_id"], anne["first_name"]) == ("+33612345601", "crm-1", "Anne")
    assert anne["attributes"] == {"tier": "gold"}
    assert anne["last_activity_at"].startswith("2026-01-15T10:00:00")
    assert await states(client, world.tenant, anne["id"]) == {
        ("email", "newsletter"): "granted", ("sms", "newsletter"): "granted"}
    events = (await client.get(f"/v1/contacts/{anne['id']}/consent-events",
                               headers=world.tenant.headers)).json()["items"]
    assert [(e["method"], e["action"], e["ip"]) for e in events] == [
        ("import", "granted", "203.0.113.7"), ("import", "granted", None)]
    assert events[0]["collected_at"].startswith("2026-01-15T10:00:00")
    check = await client.get("/v1/consent-check", headers=world.tenant.headers, params={
        "phone": "+33612345601", "channel": "sms", "purpose": "newsletter"})
    assert check.json()["allowed"] is True
    assert (await client.get("/v1/ledger/verify", headers=world.tenant.headers)).json()["ok"]


async def test_ndjson_import(client):
    world = await make_world(await make_tenant())
    line = {"contact": {"email": "nd@example.com", "birth_year": 1980, "attributes": {"vip": True}},
            "consents": [{"channel": "email", "purpose": "newsletter", "notice_id": world.notice["id"],
                          "collected_at": WHEN, "method": "web_form", "source": "https://ex.com/f"}]}
    bad = {"contact": {"email": "nd2@example.com", "birth_year": "old"}}
    body = json.dumps(line) + "\n\n" + json.dumps(bad) + "\n"
    job = (await post_import(client, world.tenant, body, "application/x-ndjson")).json()
    assert (job["created"], job["rejected"]) == (1, 1), job
    assert job["errors"] == [{"line": 3, "column": "contact.birth_year",
                              "reason": "Expected `int | null`, got `str`"}]
    person = await contact_by(client, world.tenant, email="nd@example.com")
    assert (person["birth_year"], person["attributes"]) == (1980, {"vip": True})
    events = (await client.get(f"/v1/contacts/{person['id']}/consent-events",
                               headers=world.tenant.headers)).json()["items"]
    assert [(e["method"], e["source"]) for e in events] == [("web_form", "https://ex.com/f")]


async def test_bad_rows_are_reported_and_the_others_go_in(client):
    world = await make_world(await make_tenant())
    n = world.notice["id"]
    other = (await make_notice(world.tenant, channels=("postal",), text="Post"))["id"]
    rows = [
        f"ok1@example.com,,,,,email,newsletter,{n},{WHEN},",  # line 2
        "not-an-address,,,,,,,,,",  # 3
        "x3@example.com,+33 12,,,,,,,,",  # 4
        f"x4@example.com,,,,,email,newsletter,{uuid.uuid4()},{WHEN},",  # 5
        f"x5@example.com,,,,,sms,newsletter,{other},{WHEN},",  # 6
        f"x6@example.com,,,,,email,newsletter,{n},2999-01-01T00:00:00Z,",  # 7
        f"x7@example.com,,,,,email,newsletter,,{WHEN},",  # 8
        f"x8@example.com,,,,,email,newsletter,{n},,",  # 9
        f"x9@example.com,,,,,fax,newsletter,{n},{WHEN},",  # 10
        f"x10@example.com,,,,,email,nope,{n},{WHEN},",  # 11
        f"x11@example.com,,,,,email,newsletter,{n},2026-01-15T10:00:00,",  # 12
        f"x12@example.com,,,,,email,newsletter,{n},{WHEN},999.1.1.1",  # 13
        "x13@example.com,,,,",  # 14: too few fields
        ",,,Nobody,,,,,,",  # 15
        f"ok2@example.com,,,,,email,newsletter,{n},{WHEN},",  # 16
    ]
    job = (await post_import(client, world.tenant, HEADER + "\n".join(rows) + "\n")).json()
    assert (job["total"], job["created"], job["rejected"]) == (15, 2, 13), job
    got = {e["line"]: (e["column"], e["reason"]) for e in job["errors"]}
    assert got[3] == ("email", "is not a valid e-mail address")
    assert got[4][0] == "phone"
    assert got[5] == ("notice_id", "unknown notice")
    assert got[6] == ("notice_id", "the notice does not cover the sms channel")
    assert got[7] == ("collected_at", "is in the future")
    assert got[8] == ("notice_id", "a grant needs the notice shown to the person")
    assert got[9][0] == "collected_at"
    assert got[10][0] == "consent_channel"
    assert got[11] == ("consent_purpose", "unknown purpose")
    assert got[12] == ("collected_at", "needs a time zone (RFC 3339, e.g. ...Z)")
    assert got[13][0] == "ip"
    assert got[14] == ("", "has 5 fields, the header has 10")
    assert "external_id" in got[15][1]
    assert "@" not in json.dumps(job["errors"])  # reports quote no personal data
    for email in ("ok1@example.com", "ok2@example.com"):
        await contact_by(client, world.tenant, email=email)


async def test_reimport_updates_instead_of_duplicating(client):
    world = await make_world(await make_tenant())
    n = world.notice["id"]
    body = HEADER + f"re@example.com,,crm-9,Re,silver,email,newsletter,{n},{WHEN},\n"
    first = (await post_import(client, world.tenant, body)).json()
    before = await snapshot(client, world.tenant)
    second = (await post_import(client, world.tenant, body)).json()
    assert (first["created"], first["updated"]) == (1, 0)
    assert (second["created"], second["updated"], second["rejected"]) == (0, 1, 0)
    after = await snapshot(client, world.tenant)
    assert [c[0] for c in after[0]] == [c[0] for c in before[0]]  # same contacts
    assert after[1] == before[1]  # no event appended twice
    # Matched on external_id, the row changes the stored e-mail and first name.
    changed = HEADER + f"new@example.com,,crm-9,Renée,,email,newsletter,{n},2026-02-01T00:00:00Z,\n"
    third = (await post_import(client, world.tenant, changed)).json()
    assert (third["created"], third["updated"]) == (0, 1)
    person = await contact_by(client, world.tenant, external_id="crm-9")
    assert (person["email"], person["first_name"], person["attributes"]) == (
        "new@example.com", "Renée", {"tier": "silver"})
    assert (await snapshot(client, world.tenant))[1] == before[1] + 1


async def test_an_older_imported_grant_never_overrides_a_later_withdrawal(client):
    world = await make_world(await make_tenant())
    contact = await make_contact(world.tenant, email="late@example.com")
    await record(world.tenant, contact["id"], "withdraw", collected_at="2026-03-01T00:00:00Z")
    body = HEADER + f"late@example.com,,,,,email,newsletter,{world.notice['id']},{WHEN},\n"
    job = (await post_import(client, world.tenant, body)).json()
    assert job["updated"] == 1
    assert await states(client, world.tenant, contact["id"]) == {("email", "newsletter"): "withdrawn"}


async def test_conflicting_identifiers_are_rejected(client):
    world = await make_world(await make_tenant())
    await make_contact(world.tenant, email="a@example.com")
    await make_contact(world.tenant, email="b@example.com", phone="+33612345699")
    body = HEADER + "a@example.com,+33612345699,,,,,,,,\n"
    job = (await post_import(client, world.tenant, body)).json()
    assert job["errors"] == [{"line": 2, "column": "phone",
                              "reason": "the email and the phone belong to different contacts"}]


async def test_suppression_blocks_import(client):
    world = await make_world(await make_tenant())
    n = world.notice["id"]
    h = world.tenant.headers
    for entry in ({"email": "gone@example.com", "reason": "erasure"},
                  {"phone": "0612345677", "channel": "sms", "reason": "complaint"},
                  {"email": "old@example.com", "channel": "email", "reason": "objection"}):
        assert (await client.post("/v1/suppressions", json=entry, headers=h)).status_code == 201
    old = await make_contact(world.tenant, email="old@example.com", external_id="o-1")
    body = HEADER + "\n".join([
        f"GONE@example.com,,,,,email,newsletter,{n},{WHEN},",  # 2: suppressed for all
        f"p@example.com,+33612345677,,,,sms,newsletter,{n},{WHEN},",  # 3: sms suppressed
        f"p@example.com,+33612345677,,,,email,newsletter,{n},{WHEN},",  # 4: email is fine
        f",,o-1,,,email,newsletter,{n},{WHEN},",  # 5: stored e-mail suppressed for email
    ]) + "\n"
    job = (await post_import(client, world.tenant, body)).json()
    assert {(e["line"], e["column"]) for e in job["errors"]} == {
        (2, "email"), (3, "consent_channel"), (5, "consent_channel")}, job
    assert all("suppression list" in e["reason"] for e in job["errors"])
    assert (await client.get("/v1/contacts", params={"email": "gone@example.com"},
                             headers=h)).json()["items"] == []
    p = await contact_by(client, world.tenant, email="p@example.com")
    assert await states(client, world.tenant, p["id"]) == {("email", "newsletter"): "granted"}
    assert await states(client, world.tenant, old["id"]) == {}


async def test_restricted_people_are_not_overwritten_by_an_import(client):
    """GDPR Art. 18: a restricted contact is kept as it is; a file naming them
    (by any identifier) is rejected on that row until the restriction is lifted."""
    world = await make_world(await make_tenant())
    h, n = world.tenant.headers, world.notice["id"]
    restricted = await make_contact(world.tenant, email="held@example.com", external_id="h-1")
    request = await client.post("/v1/requests", json={
        "kind": "restriction", "email": "held@example.com", "identity_verified": True}, headers=h)
    assert (await client.post(f"/v1/requests/{request.json()['id']}/complete",
                              headers=h)).status_code == 200
    body = HEADER + "\n".join([
        f"held@example.com,,,Changed,,email,newsletter,{n},{WHEN},",  # 2: by e-mail
        f",,h-1,Changed,,email,newsletter,{n},{WHEN},",  # 3: by external id
        f"free@example.com,,,Free,,email,newsletter,{n},{WHEN},",  # 4: goes in
    ]) + "\n"
    job = (await post_import(client, world.tenant, body)).json()
    assert (job["created"], job["rejected"]) == (1, 2), job
    assert {(e["line"], e["column"]) for e in job["errors"]} == {(2, "email"), (3, "external_id")}
    assert all("Art. 18" in e["reason"] for e in job["errors"])
    kept = (await client.get(f"/v1/contacts/{restricted['id']}", headers=h)).json()
    assert kept["first_name"] == restricted["first_name"]
    assert await states(client, world.tenant, restricted["id"]) == {}

    assert (await client.delete(f"/v1/contacts/{restricted['id']}/restriction",
                                headers=h)).status_code == 204
    again = (await post_import(client, world.tenant, body)).json()
    assert (again["updated"], again["rejected"]) == (3, 0), again
    assert (await client.get(f"/v1/contacts/{restricted['id']}",
                             headers=h)).json()["first_name"] == "Changed"


MALFORMED = [
    ("bad quoting", 'email,first_name\n"a@example.com,Ann\nb@example.com,"Bo"b\n', "text/csv", "quoting"),
    ("latin-1 bytes", "email,first_name\nrene@example.com,Ren\xe9\n".encode("latin-1"), "text/csv",
     "UTF-8"),
    ("missing header", "ann@example.com,Ann\n", "text/csv", "header"),
    ("unknown column", "email,emial\nann@example.com,x\n", "text/csv", "emial"),
    ("header without identifier", "first_name\nAnn\n", "text/csv", "email, phone or external_id"),
    ("empty file", "", "text/csv", "empty"),
    ("10 MB line", "email,first_name\nann@example.com," + "x" * 10_000_000 + "\n", "text/csv",
     "longer than"),
    ("ndjson syntax", '{"contact": {"email": "a@example.com"}}\n{"contact": \n', "application/x-ndjson",
     "line 2"),
    ("ndjson unknown field", '{"contact": {"email": "a@example.com", "emial": "x"}}\n',
     "application/x-ndjson", "contact.emial"),
    ("ndjson not an object", "[1, 2]\n", "application/x-ndjson", "object"),
]


@pytest.mark.parametrize(("name", "body", "content_type", "mentions"), MALFORMED,
                         ids=[m[0] for m in MALFORMED])
async def test_malformed_files_are_refused_whole(client, name, body, content_type, mentions):
    world = await make_world(await make_tenant())
    before = await snapshot(client, world.tenant)
    response = await post_import(client, world.tenant, body, content_type)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert mentions.lower() in response.json()["detail"].lower(), response.json()
    assert await snapshot(client, world.tenant) == before


async def test_a_bad_line_after_good_rows_writes_nothing(client):
    world = await make_world(await make_tenant())
    body = HEADER + f"fine@example.com,,,,,email,newsletter,{world.notice['id']},{WHEN},\n" + 'x,"\n'
    before = await snapshot(client, world.tenant)
    response = await post_import(client, world.tenant, body)
    assert response.status_code == 400 and "line 3" in response.json()["detail"]
    assert await snapshot(client, world.tenant) == before


@pytest.mark.parametrize("content_type", ["application/json", "text/csv; charset=latin-1", ""])
async def test_unsupported_media_type(client, content_type):
    tenant = await make_tenant()
    response = await post_import(client, tenant, "email\na@example.com\n", content_type)
    assert response.status_code == 415, response.text


async def test_imports_need_the_imports_scope(client):
    tenant = await make_tenant(scopes=["contacts:write", "contacts:read"])
    assert (await post_import(client, tenant, "email\na@example.com\n")).status_code == 403
    assert (await client.get(f"/v1/imports/{uuid.uuid4()}", headers=tenant.headers)).status_code == 403


async def test_foreign_import_id_answers_like_a_missing_one(client):
    a, b = await make_tenant(), await make_tenant()
    job = (await post_import(client, a, "email\na@example.com\n")).json()
    foreign = await client.get(f"/v1/imports/{job['id']}", headers=b.headers)
    missing = await client.get(f"/v1/imports/{uuid.uuid4()}", headers=b.headers)
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == missing.json()


async def test_errors_are_bounded_but_all_counted(client):
    tenant = await make_tenant()
    body = "email\n" + "bad\n" * 1_100
    job = (await post_import(client, tenant, body)).json()
    assert (job["rejected"], len(job["errors"])) == (1_100, 1_000)


async def test_large_bodies_run_after_the_answer(client, app, monkeypatch):
    # The import controller reads the inline limit from the app's settings per request.
    monkeypatch.setattr(app.state, "settings",
                        dataclasses.replace(app.state.settings, import_inline_bytes=10))
    world = await make_world(await make_tenant())
    body = HEADER + "".join(
        f"bg{i}@example.com,,,,,email,newsletter,{world.notice['id']},{WHEN},\n" for i in range(50))
    response = await post_import(client, world.tenant, body)
    assert response.status_code == 202
    assert response.json()["status"] == "queued"
    for _ in range(200):
        job = (await client.get(f"/v1/imports/{response.json()['id']}",
                                headers=world.tenant.headers)).json()
        if job["status"] in ("done", "failed"):
            break
        await asyncio.sleep(0.05)
    assert (job["status"], job["created"]) == ("done", 50), job
    assert job["finished_at"]
