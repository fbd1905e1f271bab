"""E-mail tracking consent (CNIL draft recommendation on tracking pixels, 2025;
Art. 82 loi Informatique et Libertés): a purpose of its own kind, asked for the
e-mail channel alone, answered per person as `tracking_allowed` by the consent
check and the e-mail exports, withdrawable from the preference centre."""

from __future__ import annotations

import csv
import io
import json
import uuid

from consent import tokens
from optinbase.settings import get_settings
from tests.factories import grant, make_contact, make_notice, make_purpose, make_tenant, record


async def _tracking_world(client):
    tenant = await make_tenant()
    await make_purpose(tenant, "newsletter")
    tracking = await make_purpose(tenant, "open-tracking", kind="tracking")
    news = await make_notice(tenant, "newsletter", channels=("email", "sms"))
    pixel = await make_notice(tenant, "open-tracking", channels=("email",),
                              text="Measure whether I open your e-mails and which links I follow.")
    return tenant, tracking, news, pixel


async def _anne_tracked_bob_not(client):
    """Anne and Bob get the newsletter; only Anne allows tracking."""
    tenant, _, news, pixel = await _tracking_world(client)
    anne = await make_contact(tenant, email="anne@example.org", phone="+33612340001")
    bob = await make_contact(tenant, email="bob@example.org")
    for person in (anne, bob):
        await grant(tenant, person["id"], news["id"])
    await grant(tenant, anne["id"], pixel["id"], purpose="open-tracking")
    return tenant, news, anne


async def _check(client, tenant, email, channel="email"):
    response = await client.get("/v1/consent-check", headers=tenant.headers, params={
        "email": email, "channel": channel, "purpose": "newsletter"})
    assert response.status_code == 200, response.text
    return response.json()


async def test_tracking_is_a_purpose_kind_asked_alone(client):
    tenant, tracking, _, _ = await _tracking_world(client)
    assert tracking["kind"] == "tracking"
    listed = (await client.get("/v1/purposes/open-tracking", headers=tenant.headers)).json()
    assert listed["kind"] == "tracking"
    # Never bundled: a tracking notice covers the e-mail channel and nothing else.
    bundled = await client.post("/v1/notices", headers=tenant.headers, json={
        "purpose": "open-tracking", "channels": ["email", "sms"], "language": "en",
        "text": "Newsletter and tracking."})
    assert bundled.status_code == 422 and bundled.json()["errors"][0]["field"] == "channels"
    # Consent is the only basis for reading from the person's terminal.
    other_basis = await client.post("/v1/purposes", headers=tenant.headers, json={
        "key": "pixels", "name": "Pixels", "kind": "tracking",
        "legal_basis": "legitimate_interest"})
    assert other_basis.status_code == 422
    unknown_kind = await client.post("/v1/purposes", headers=tenant.headers, json={
        "key": "pixels", "name": "Pixels", "kind": "spying"})
    assert unknown_kind.status_code in (400, 422)


async def test_check_says_tracking_allowed_per_person(client):
    tenant, news, anne = await _anne_tracked_bob_not(client)
    answer = await _check(client, tenant, "anne@example.org")
    assert answer["allowed"] is True and answer["tracking_allowed"] is True
    assert (await _check(client, tenant, "bob@example.org"))["tracking_allowed"] is False
    # Not an e-mail: tracking is about e-mails only.
    await grant(tenant, anne["id"], news["id"], channel="sms")
    sms = await client.get("/v1/consent-check", headers=tenant.headers, params={
        "contact_id": anne["id"], "channel": "sms", "purpose": "newsletter"})
    assert sms.json()["allowed"] is True and sms.json()["tracking_allowed"] is False
    batch = await client.post("/v1/consent-check", headers=tenant.headers, json={"items": [
        {"email": "anne@example.org", "channel": "email", "purpose": "newsletter"},
        {"email": "bob@example.org", "channel": "email", "purpose": "newsletter"},
        {"email": "nobody@example.org", "channel": "email", "purpose": "newsletter"}]})
    assert [r["tracking_allowed"] for r in batch.json()["results"]] == [True, False, False]
    # Withdrawn: gone at once.
    await record(tenant, anne["id"], "withdraw", purpose="open-tracking")
    assert (await _check(client, tenant, "anne@example.org"))["tracking_allowed"] is False


async def test_tracking_alone_never_allows_a_send(client):
    """Tracking consent without the newsletter consent: nothing to send, nothing to track."""
    tenant, _, _, pixel = await _tracking_world(client)
    carl = await make_contact(tenant, email="carl@example.org")
    await grant(tenant, carl["id"], pixel["id"], purpose="open-tracking")
    answer = await _check(client, tenant, "carl@example.org")
    assert answer == {**answer, "allowed": False, "tracking_allowed": False}


async def test_exports_carry_tracking_allowed(client):
    tenant, news, anne = await _anne_tracked_bob_not(client)
    segment = (await client.post("/v1/segments", headers=tenant.headers, json={
        "name": "all", "rules": {"type": "all", "rules": []}})).json()
    url = f"/v1/segments/{segment['id']}/export"
    params = {"channel": "email", "purpose": "newsletter"}
    rows = list(csv.DictReader(io.StringIO((await client.get(
        url, params={**params, "format": "csv"}, headers=tenant.headers)).text)))
    assert {r["email"]: r["tracking_allowed"] for r in rows} == {
        "anne@example.org": "true", "bob@example.org": "false"}
    assert list(rows[0])[-1] == "tracking_allowed"
    lines = (await client.get(url, params={**params, "format": "ndjson"},
                              headers=tenant.headers)).text.splitlines()
    assert {json.loads(x)["email"]: json.loads(x)["tracking_allowed"] for x in lines} == {
        "anne@example.org": True, "bob@example.org": False}


async def test_preference_centre_withdraws_tracking(client):
    tenant, tracking, news, pixel = await _tracking_world(client)
    anne = await make_contact(tenant, email="anne@example.org")
    await grant(tenant, anne["id"], news["id"])
    await grant(tenant, anne["id"], pixel["id"], purpose="open-tracking")
    link = tokens.make_token(get_settings().secret_key, tenant.id, uuid.UUID(anne["id"]),
                             uuid.UUID(tracking["id"]), "email")
    page = await client.get(f"/p/preferences/{link}")
    assert page.status_code == 200 and "open-tracking:email" in page.text
    saved = await client.post(f"/p/preferences/{link}", data={
        "consent": ["newsletter:email"], "notice.newsletter": news["id"],
        "notice.open-tracking": pixel["id"]})
    assert saved.status_code == 200
    answer = await _check(client, tenant, "anne@example.org")
    assert answer["allowed"] is True and answer["tracking_allowed"] is False
