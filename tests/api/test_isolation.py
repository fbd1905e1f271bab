"""Cross-tenant matrix: tenant B, calling every endpoint with tenant A's ids and
identifiers, gets exactly the answer it gets for ids that do not exist, and no
list, count or check of B ever includes A's rows."""

from __future__ import annotations

import uuid

import pytest

from consent.ledger import checkpoints
from optinbase.context import TenantContext
from tests.factories import (
    grant,
    make_contact,
    make_purpose,
    make_tenant,
    make_world,
)


def _shape(response) -> tuple[int, object]:
    body = response.json() if response.content else None
    return response.status_code, body


@pytest.fixture
async def a_and_b(backend):
    a = await make_world(await make_tenant())
    await make_purpose(a.tenant, key="a-only")
    b = await make_world(await make_tenant())
    return a, b


SAME_AS_MISSING = [
    ("GET", "/v1/contacts/{contact}", None),
    ("PATCH", "/v1/contacts/{contact}", {"first_name": "Mallory"}),
    ("GET", "/v1/contacts/{contact}/consents", None),
    ("GET", "/v1/contacts/{contact}/consent-events", None),
    ("POST", "/v1/contacts/{contact}/consents",
     {"channel": "email", "purpose": "newsletter", "action": "withdraw", "method": "api"}),
    ("GET", "/v1/notices/{notice}", None),
    ("GET", "/v1/consent-events/{event}", None),
    ("GET", "/v1/consent-events/{event}/receipt", None),
    ("GET", "/v1/consent-events/{event}/receipt?format=iso27560", None),
    ("GET", "/v1/purposes/{purpose_key}", None),
    ("POST", "/v1/notices/{notice}/require-reconsent", {"expires_at": "2099-01-01T00:00:00Z"}),
    ("GET", "/v1/contacts/{contact}/contact-attempts", None),
    ("POST", "/v1/contacts/{contact}/contact-attempts", {"outcome": "answered"}),
]


@pytest.mark.parametrize(("method", "template", "body"), SAME_AS_MISSING)
async def test_foreign_ids_answer_like_missing_ids(client, a_and_b, method, template, body):
    a, b = a_and_b
    foreign = template.format(
        contact=a.contact["id"], notice=a.notice["id"], event=a.event["id"],
        purpose_key="a-only",
    )
    missing = template.format(
        contact=uuid.uuid4(), notice=uuid.uuid4(), event=uuid.uuid4(), purpose_key="never-made",
    )
    kwargs = {"headers": b.tenant.headers, **({"json": body} if body else {})}
    foreign_answer = await client.request(method, foreign, **kwargs)
    missing_answer = await client.request(method, missing, **kwargs)
    assert foreign_answer.status_code == 404, foreign_answer.text
    assert foreign_answer.headers["content-type"] == "application/problem+json"
    assert _shape(foreign_answer) == _shape(missing_answer)


async def test_foreign_notice_in_a_grant_is_an_unknown_notice(client, a_and_b):
    a, b = a_and_b
    path = f"/v1/contacts/{b.contact['id']}/consents"
    body = {"channel": "email", "purpose": "newsletter", "action": "grant", "method": "api"}
    foreign = await client.post(path, json={**body, "notice_id": a.notice["id"]},
                                headers=b.tenant.headers)
    missing = await client.post(path, json={**body, "notice_id": str(uuid.uuid4())},
                                headers=b.tenant.headers)
    assert foreign.status_code == 422
    assert _shape(foreign) == _shape(missing)


async def test_foreign_purpose_key_in_a_notice_is_unknown(client, a_and_b):
    a, b = a_and_b
    body = {"channels": ["email"], "language": "en", "text": "x"}
    foreign = await client.post("/v1/notices", json={**body, "purpose": "a-only"},
                                headers=b.tenant.headers)
    missing = await client.post("/v1/notices", json={**body, "purpose": "never-made"},
                                headers=b.tenant.headers)
    assert foreign.status_code == 422
    assert foreign.json()["detail"].replace("a-only", "X") == missing.json()["detail"].replace(
        "never-made", "X"
    )


async def test_lists_and_filters_never_show_the_other_tenant(client, a_and_b):
    a, b = a_and_b
    h = b.tenant.headers
    contacts = (await client.get("/v1/contacts", headers=h)).json()["items"]
    assert [c["id"] for c in contacts] == [b.contact["id"]]
    by_email = (await client.get("/v1/contacts", params={"email": a.contact["email"]},
                                 headers=h)).json()
    assert by_email["items"] == [] or by_email["items"][0]["id"] != a.contact["id"]
    purposes = {p["id"] for p in (await client.get("/v1/purposes", headers=h)).json()}
    assert purposes == {b.purpose["id"]}
    notices = {n["id"] for n in (await client.get("/v1/notices", headers=h)).json()}
    assert notices == {b.notice["id"]}
    assert (await client.get("/v1/notices", params={"purpose": "a-only"}, headers=h)).json() == []
    audit = (await client.get("/v1/audit-events", params={"limit": 500}, headers=h)).json()
    a_ids = {a.contact["id"], a.notice["id"], a.purpose["id"]}
    assert not a_ids & {e["object_id"] for e in audit["items"]}
    assert all(e["actor"].startswith("api_key:") for e in audit["items"])
    verify = (await client.get("/v1/ledger/verify", headers=h)).json()
    assert verify == {"ok": True, "events": 1, "first_broken_event": None, "reason": None,
                      "checkpoints": 0, "first_broken_checkpoint": None}
    # Each tenant's checkpoints are its own: A's published one is not B's to see or check.
    await checkpoints.publish_now(TenantContext.for_system(a.tenant, "test"))
    assert (await client.get("/v1/ledger/checkpoints", headers=h)).json()["items"] == []
    assert (await client.get("/v1/ledger/verify", headers=h)).json()["checkpoints"] == 0


async def test_checks_treat_the_other_tenants_people_as_unknown(client, a_and_b):
    a, b = a_and_b
    h = b.tenant.headers
    for params in (
        {"contact_id": a.contact["id"]},
        {"email": a.contact["email"]} if a.contact["email"] != b.contact["email"] else None,
    ):
        if params is None:
            continue
        answer = await client.get(
            "/v1/consent-check", params={**params, "channel": "email", "purpose": "newsletter"},
            headers=h,
        )
        assert answer.status_code == 200
        assert answer.json()["allowed"] is False
        assert answer.json()["status"] == "none"
    batch = await client.post(
        "/v1/consent-check",
        json={"items": [{"contact_id": a.contact["id"], "channel": "email",
                         "purpose": "newsletter"}]},
        headers=h,
    )
    assert batch.json()["results"][0]["status"] == "none"
    unknown_purpose = await client.get(
        "/v1/consent-check",
        params={"contact_id": b.contact["id"], "channel": "email", "purpose": "a-only"},
        headers=h,
    )
    assert unknown_purpose.status_code == 422


async def test_same_identifiers_live_independently_in_each_tenant(client):
    """No uniqueness oracle: B can create a contact with A's e-mail; the 409 is per tenant."""
    a = await make_tenant()
    b = await make_tenant()
    await make_contact(a, email="shared@example.com")
    created = await client.post("/v1/contacts", json={"email": "shared@example.com"},
                                headers=b.headers)
    assert created.status_code == 201
    duplicate = await client.post("/v1/contacts", json={"email": "shared@example.com"},
                                  headers=b.headers)
    assert duplicate.status_code == 409
    assert duplicate.json()["existing_id"] == created.json()["id"]


async def test_idempotency_keys_are_per_tenant(client):
    a = await make_tenant()
    b = await make_tenant()
    key = {"Idempotency-Key": "same-key"}
    first = await client.post("/v1/contacts", json={"email": "one@example.com"},
                              headers={**a.headers, **key})
    second = await client.post("/v1/contacts", json={"email": "one@example.com"},
                               headers={**b.headers, **key})
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] != second.json()["id"]
    assert "idempotent-replay" not in second.headers


async def test_consents_of_a_are_untouched_by_b(client, a_and_b):
    a, b = a_and_b
    await grant(b.tenant, b.contact["id"], b.notice["id"], channel="sms")
    states = (await client.get(f"/v1/contacts/{a.contact['id']}/consents",
                               headers=a.tenant.headers)).json()
    assert [(s["channel"], s["status"]) for s in states] == [("email", "granted")]
    verify = (await client.get("/v1/ledger/verify", headers=a.tenant.headers)).json()
    assert verify["ok"] and verify["events"] == 1
