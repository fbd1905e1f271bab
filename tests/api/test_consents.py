from tests.factories import (
    grant,
    make_contact,
    make_notice,
    make_purpose,
    make_tenant,
    make_world,
)


async def test_grant_then_check_then_withdraw(client):
    world = await make_world(await make_tenant())
    headers = world.tenant.headers
    email = world.contact["email"]
    assert world.event["status"] == "granted"
    assert world.event["action"] == "granted"

    check = await client.get(
        "/v1/consent-check",
        params={"email": email.upper(), "channel": "email", "purpose": "newsletter"},
        headers=headers,
    )
    assert check.status_code == 200
    assert check.json()["allowed"] is True
    assert check.json()["event_id"] == world.event["id"]

    withdraw = await client.post(
        f"/v1/contacts/{world.contact['id']}/consents",
        json={"channel": "email", "purpose": "newsletter", "action": "withdraw",
              "method": "api"},
        headers=headers,
    )
    assert withdraw.status_code == 201, withdraw.text
    assert withdraw.json()["status"] == "withdrawn"

    check = await client.get(
        "/v1/consent-check",
        params={"email": email, "channel": "email", "purpose": "newsletter"}, headers=headers,
    )
    assert check.json()["allowed"] is False
    assert check.json()["status"] == "withdrawn"

    states = (await client.get(f"/v1/contacts/{world.contact['id']}/consents", headers=headers)).json()
    assert [(s["channel"], s["purpose"], s["status"]) for s in states] == [
        ("email", "newsletter", "withdrawn")
    ]
    events = (await client.get(
        f"/v1/contacts/{world.contact['id']}/consent-events", headers=headers
    )).json()["items"]
    assert [e["action"] for e in events] == ["granted", "withdrawn"]
    assert events[1]["prev_hash"] == events[0]["hash"]


async def test_unknown_person_is_not_allowed(client):
    world = await make_world(await make_tenant())
    check = await client.get(
        "/v1/consent-check",
        params={"email": "nobody@example.org", "channel": "email", "purpose": "newsletter"},
        headers=world.tenant.headers,
    )
    assert check.status_code == 200
    assert check.json() == {"allowed": False, "status": "none", "since": None, "event_id": None,
                            "suppressed": False, "restricted": False, "tracking_allowed": False}
    other_channel = await client.get(
        "/v1/consent-check",
        params={"phone": "+33612345678", "channel": "sms", "purpose": "newsletter"},
        headers=world.tenant.headers,
    )
    assert other_channel.json()["status"] == "none"


async def test_old_grant_does_not_override_later_withdrawal(client):
    world = await make_world(await make_tenant())
    headers = world.tenant.headers
    cid = world.contact["id"]
    await client.post(
        f"/v1/contacts/{cid}/consents",
        json={"channel": "email", "purpose": "newsletter", "action": "withdraw", "method": "api",
              "collected_at": "2026-01-10T10:00:00Z"},
        headers=headers,
    )
    # The API grant of make_world was collected "now", later than the withdrawal:
    # state stays granted. Now an import of a grant from 2025 arrives.
    late = await client.post(
        f"/v1/contacts/{cid}/consents",
        json={"channel": "sms", "purpose": "newsletter", "action": "withdraw", "method": "api",
              "collected_at": "2026-02-01T10:00:00Z"},
        headers=headers,
    )
    assert late.json()["status"] == "withdrawn"
    stale = await grant(world.tenant, cid, world.notice["id"], channel="sms",
                        collected_at="2025-06-01T10:00:00Z")
    assert stale["status"] == "withdrawn"


async def test_batch_check_answers_in_order(client):
    world = await make_world(await make_tenant())
    response = await client.post(
        "/v1/consent-check",
        json={"items": [
            {"email": world.contact["email"], "channel": "email", "purpose": "newsletter"},
            {"email": "unknown@example.com", "channel": "email", "purpose": "newsletter"},
            {"contact_id": world.contact["id"], "channel": "sms", "purpose": "newsletter"},
            {"phone": "+33 6 12 34 56 78", "channel": "email", "purpose": "newsletter"},
        ]},
        headers=world.tenant.headers,
    )
    assert response.status_code == 200, response.text
    assert [r["allowed"] for r in response.json()["results"]] == [True, False, False, True]


async def test_double_opt_in_grant_is_pending(client):
    tenant = await make_tenant()
    await make_purpose(tenant)
    notice = await make_notice(tenant)
    contact = await make_contact(tenant)
    event = await grant(tenant, contact["id"], notice["id"], double_opt_in=True)
    assert event["action"] == "requested"
    assert event["status"] == "pending"
    check = await client.get(
        "/v1/consent-check",
        params={"contact_id": contact["id"], "channel": "email", "purpose": "newsletter"},
        headers=tenant.headers,
    )
    assert check.json()["allowed"] is False
    assert check.json()["status"] == "pending"


async def test_batch_check_names_the_bad_item(client):
    world = await make_world(await make_tenant())
    response = await client.post(
        "/v1/consent-check",
        json={"items": [
            {"email": world.contact["email"], "channel": "email", "purpose": "newsletter"},
            {"email": "not-an-email", "channel": "email", "purpose": "newsletter"},
        ]},
        headers=world.tenant.headers,
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "items[1].email"


async def test_suppressed_person_is_never_allowed(client):
    world = await make_world(await make_tenant())
    listed = await client.post(
        "/v1/suppressions", json={"email": world.contact["email"], "reason": "complaint"},
        headers=world.tenant.headers,
    )
    assert listed.status_code == 201, listed.text
    check = await client.get(
        "/v1/consent-check",
        params={"email": world.contact["email"], "channel": "email", "purpose": "newsletter"},
        headers=world.tenant.headers,
    )
    assert check.json()["allowed"] is False
    assert check.json()["suppressed"] is True
    assert check.json()["status"] == "granted"  # the consent stays on record
