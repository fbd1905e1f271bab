"""The batch consent check is one set-based statement (consent/checks.py):
whatever mix of identifiers, states and tenants it is asked about, each answer
equals the single check's for the same question, in the order asked."""

from __future__ import annotations

from tests.factories import (grant, make_contact, make_notice, make_purpose, make_tenant,
                             make_world, record)


async def test_each_batch_answer_equals_the_single_check(client):
    world = await make_world(await make_tenant())
    tenant, headers = world.tenant, world.tenant.headers
    other = await make_world(await make_tenant())
    accented = await make_contact(tenant, email="Zoé.Étienne@Exemple.fr", phone="+33 6 71 52 40 19")
    await grant(tenant, accented["id"], world.notice["id"])
    withdrawn = await make_contact(tenant, email="gone@example.com")
    await grant(tenant, withdrawn["id"], world.notice["id"])
    await record(tenant, withdrawn["id"], "withdraw")
    suppressed = await make_contact(tenant, email="listed@example.com")
    await grant(tenant, suppressed["id"], world.notice["id"])
    assert (await client.post("/v1/suppressions", json={"email": "listed@example.com",
                                                        "reason": "complaint"},
                              headers=headers)).status_code == 201
    # Listed, but not (or no longer) in the base: the answer still says so.
    for listing in ({"email": "never@example.com", "reason": "complaint"},
                    {"phone": "+33612345699", "channel": "sms", "reason": "complaint"}):
        assert (await client.post("/v1/suppressions", json=listing, headers=headers)
                ).status_code == 201
    questions = [
        {"email": "  " + world.contact["email"].upper() + " ", "channel": "email", "purpose": "newsletter"},
        {"email": "zoé.étienne@exemple.fr", "channel": "email", "purpose": "newsletter"},
        {"phone": "06 71 52 40 19", "channel": "email", "purpose": "newsletter"},
        {"contact_id": withdrawn["id"], "channel": "email", "purpose": "newsletter"},
        {"email": "listed@example.com", "channel": "email", "purpose": "newsletter"},
        {"email": "nobody@example.com", "channel": "email", "purpose": "newsletter"},
        {"contact_id": world.contact["id"], "channel": "sms", "purpose": "newsletter"},
        # another tenant's person, by id and by address: unknown here
        {"contact_id": other.contact["id"], "channel": "email", "purpose": "newsletter"},
        {"email": other.contact["email"], "channel": "email", "purpose": "newsletter"},
        {"email": "NEVER@example.com", "channel": "email", "purpose": "newsletter"},
        {"phone": "06 12 34 56 99", "channel": "sms", "purpose": "newsletter"},
        {"phone": "06 12 34 56 99", "channel": "email", "purpose": "newsletter"},  # SMS only
    ]
    batch = await client.post("/v1/consent-check", json={"items": questions}, headers=headers)
    assert batch.status_code == 200, batch.text
    results = batch.json()["results"]
    singles = []
    for question in questions:
        single = await client.get("/v1/consent-check", params=question, headers=headers)
        assert single.status_code == 200, single.text
        singles.append(single.json())
    assert results == singles
    assert [r["allowed"] for r in results] == [True, True, True] + [False] * 9
    assert [r["status"] for r in results[3:6]] == ["withdrawn", "granted", "none"]
    assert [r["suppressed"] for r in results] == [False] * 4 + [True] + [False] * 4 + [
        True, True, False]


async def test_a_thousand_items_and_the_bad_ones_named(client):
    world = await make_world(await make_tenant())
    headers = world.tenant.headers
    many = [{"email": f"p{i}@example.com", "channel": "email", "purpose": "newsletter"}
            for i in range(999)] + [{"email": world.contact["email"], "channel": "email",
                                     "purpose": "newsletter"}]
    answer = await client.post("/v1/consent-check", json={"items": many}, headers=headers)
    assert answer.status_code == 200
    assert [r["allowed"] for r in answer.json()["results"]] == [False] * 999 + [True]
    unknown = many[:3] + [{"email": "a@example.com", "channel": "email", "purpose": "nope"}]
    refused = await client.post("/v1/consent-check", json={"items": unknown}, headers=headers)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "items[3].purpose"
    both = [{"email": "a@example.com", "phone": "+33612345678", "channel": "email",
             "purpose": "newsletter"}]
    refused = await client.post("/v1/consent-check", json={"items": both}, headers=headers)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "items[0].email"


async def _singles(client, headers, questions):
    answers = []
    for question in questions:
        single = await client.get("/v1/consent-check", params=question, headers=headers)
        assert single.status_code == 200, single.text
        answers.append(single.json())
    return answers


async def test_a_batch_of_one_kind_with_mixed_questions_answers_as_the_single_check(client):
    """The statement is built for the identifier kinds a batch uses, and sends a
    channel or purpose as one value when every item asks the same: a batch of
    ids alone, of phones alone, of e-mails with two purposes, each still answers
    as the single check (another tenant's id as if absent, a listed number of
    nobody still suppressed), and an unknown purpose is still named."""
    world = await make_world(await make_tenant())
    tenant, headers = world.tenant, world.tenant.headers
    other = await make_world(await make_tenant())
    await make_purpose(tenant, "offers")
    offers = await make_notice(tenant, "offers")
    sms = await make_contact(tenant, phone="+33 6 71 52 40 20")
    await grant(tenant, sms["id"], offers["id"], channel="sms", purpose="offers")
    await grant(tenant, world.contact["id"], world.notice["id"], channel="sms")
    assert (await client.post("/v1/suppressions", json={
        "phone": "+33612345699", "channel": "sms", "reason": "complaint"}, headers=headers)
    ).status_code == 201
    by_id = [{"contact_id": cid, "channel": channel, "purpose": purpose}
             for cid in (world.contact["id"], sms["id"], other.contact["id"])
             for channel, purpose in (("email", "newsletter"), ("sms", "offers"),
                                      ("sms", "newsletter"))]
    by_phone = [{"phone": phone, "channel": "sms", "purpose": purpose}
                for phone in ("06 71 52 40 20", "+33612345678", "06 12 34 56 99", "0611111111")
                for purpose in ("offers", "newsletter")]
    by_email = [{"email": email, "channel": "email", "purpose": purpose}
                for email in (world.contact["email"], sms["email"], other.contact["email"])
                for purpose in ("newsletter", "offers")]
    for questions in (by_id, by_phone, by_email, by_id[:1] * 3):
        batch = await client.post("/v1/consent-check", json={"items": questions}, headers=headers)
        assert batch.status_code == 200, batch.text
        assert batch.json()["results"] == await _singles(client, headers, questions)
    allowed = [r["allowed"] for r in (await client.post(
        "/v1/consent-check", json={"items": by_id}, headers=headers)).json()["results"]]
    assert allowed == [True, False, True, False, True, False, False, False, False]
    phones = (await client.post("/v1/consent-check", json={"items": by_phone},
                                headers=headers)).json()["results"]
    assert [(r["allowed"], r["status"], r["suppressed"]) for r in phones] == [
        (True, "granted", False), (False, "none", False),
        (False, "none", False), (True, "granted", False),
        (False, "none", True), (False, "none", True),
        (False, "none", False), (False, "none", False)]
    for questions in (by_id, by_phone):
        unknown = questions[:2] + [{**questions[2], "purpose": "nope"}]
        refused = await client.post("/v1/consent-check", json={"items": unknown}, headers=headers)
        assert refused.status_code == 422
        assert refused.json()["errors"][0]["field"] == "items[2].purpose"


async def test_the_first_suppression_of_a_tenant_reaches_the_batch(client):
    """The per-person probe of the suppression list runs only when the tenant
    has a list: the first entry must still turn the next answer."""
    world = await make_world(await make_tenant())
    headers = world.tenant.headers
    question = {"items": [{"email": world.contact["email"], "channel": "email",
                           "purpose": "newsletter"}]}
    before = (await client.post("/v1/consent-check", json=question, headers=headers)).json()
    assert [(r["allowed"], r["suppressed"]) for r in before["results"]] == [(True, False)]
    listed = await client.post("/v1/suppressions", json={
        "email": world.contact["email"], "reason": "complaint"}, headers=headers)
    assert listed.status_code == 201
    after = (await client.post("/v1/consent-check", json=question, headers=headers)).json()
    assert [(r["allowed"], r["suppressed"]) for r in after["results"]] == [(False, True)]
