"""SMS STOP: a provider's inbound STOP reply withdraws every sms consent of the
sender (method sms_stop), nothing else; unknown numbers and other texts change
nothing; bad input is a 422 naming the field."""

from __future__ import annotations

import datetime as dt

import pytest

from consent.journey.sms_stop import is_stop
from tests.factories import (
    grant,
    make_contact,
    make_key,
    make_notice,
    make_purpose,
    make_tenant,
)


@pytest.mark.parametrize("text", ["STOP", "stop", " Stop. ", "STOPALL", "unsubscribe", "Cancel",
                                  "END", "quit!", "ARRET", "Arrêt", "arrêt\n"])
def test_stop_words(text):
    assert is_stop(text)


@pytest.mark.parametrize("text", ["", "Hello", "STOP IT NOW", "stopp", "ARRETEZ", "yes"])
def test_other_texts(text):
    assert not is_stop(text)


async def _person(tenant):
    await make_purpose(tenant, "newsletter")
    await make_purpose(tenant, "promos")
    letters = await make_notice(tenant, "newsletter", channels=("email", "sms"))
    promos = await make_notice(tenant, "promos", channels=("sms",))
    contact = await make_contact(tenant, phone="+33612345670")
    await grant(tenant, contact["id"], letters["id"], channel="sms")
    await grant(tenant, contact["id"], promos["id"], channel="sms", purpose="promos")
    await grant(tenant, contact["id"], letters["id"], channel="email")
    return contact


async def _states(client, tenant, contact) -> dict:
    answer = await client.get(f"/v1/contacts/{contact['id']}/consents", headers=tenant.headers)
    return {(s["channel"], s["purpose"]): s["status"] for s in answer.json()}


async def test_stop_withdraws_every_sms_consent(client):
    tenant = await make_tenant(country="FR")
    contact = await _person(tenant)
    # The provider sends the national form; the tenant's country makes it E.164.
    received = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1)).replace(microsecond=0)
    answer = await client.post("/v1/inbound/sms", headers=tenant.headers, json={
        "from": "06 12 34 56 70", "text": "  Arrêt ", "received_at": received.isoformat()})
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"stop": True, "withdrawn": 2}
    assert await _states(client, tenant, contact) == {
        ("sms", "newsletter"): "withdrawn", ("sms", "promos"): "withdrawn",
        ("email", "newsletter"): "granted"}
    events = (await client.get(f"/v1/contacts/{contact['id']}/consent-events",
                               headers=tenant.headers)).json()["items"]
    stops = [e for e in events if e["method"] == "sms_stop"]
    assert sorted(e["purpose"] for e in stops) == ["newsletter", "promos"]
    for event in stops:
        assert (event["action"], event["channel"]) == ("withdrawn", "sms")
        assert event["collected_at"].startswith(received.strftime("%Y-%m-%dT%H:%M:%S"))
        assert event["actor"].startswith("api_key:")
    check = await client.get("/v1/consent-check", headers=tenant.headers, params={
        "phone": "+33612345670", "channel": "sms", "purpose": "promos"})
    assert check.json()["allowed"] is False
    again = await client.post("/v1/inbound/sms", headers=tenant.headers,
                              json={"from": "+33612345670", "text": "STOP"})
    assert again.json() == {"stop": True, "withdrawn": 0}  # nothing left to withdraw
    assert (await client.get("/v1/ledger/verify", headers=tenant.headers)).json()["ok"] is True


async def test_unknown_numbers_and_other_texts_change_nothing(client):
    tenant = await make_tenant(country="FR")
    contact = await _person(tenant)
    unknown = await client.post("/v1/inbound/sms", headers=tenant.headers,
                                json={"from": "+33699999999", "text": "STOP"})
    assert unknown.status_code == 202 and unknown.json() == {"stop": True, "withdrawn": 0}
    chat = await client.post("/v1/inbound/sms", headers=tenant.headers,
                             json={"from": "+33612345670", "text": "Merci !"})
    assert chat.status_code == 202 and chat.json() == {"stop": False, "withdrawn": 0}
    assert set((await _states(client, tenant, contact)).values()) == {"granted"}


async def test_another_tenants_stop_does_not_reach_this_tenant(client):
    a, b = await make_tenant(), await make_tenant()
    contact = await _person(a)
    answer = await client.post("/v1/inbound/sms", headers=b.headers,
                               json={"from": "+33612345670", "text": "STOP"})
    assert answer.json() == {"stop": True, "withdrawn": 0}
    assert set((await _states(client, a, contact)).values()) == {"granted"}


@pytest.mark.parametrize(("body", "field"), [
    ({"from": "+33612345670", "text": "STOP", "to": "36111"}, "to"),
    ({"text": "STOP"}, "from"),
    ({"from": "+33 12", "text": "STOP"}, "from"),
    ({"from": "+33612345670", "text": "STOP", "received_at": "yesterday"}, "received_at"),
    ({"from": "+33612345670", "text": "STOP", "received_at": "2099-01-01T00:00:00Z"},
     "received_at"),
])
async def test_bad_input_names_the_field(client, body, field):
    tenant = await make_tenant()
    answer = await client.post("/v1/inbound/sms", headers=tenant.headers, json=body)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert field in answer.json()["detail"]


async def test_needs_the_consents_write_scope(client):
    tenant = await make_tenant()
    key = await make_key(tenant.id, scopes=["consents:read"])
    answer = await client.post("/v1/inbound/sms", headers={"Authorization": f"Bearer {key}"},
                               json={"from": "+33612345670", "text": "STOP"})
    assert answer.status_code == 403
