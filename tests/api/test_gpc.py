"""Global Privacy Control (consent.gpc): `Sec-GPC: 1` refuses social ads and
partner transfers (a purpose whose notice names partners), recorded as
refusals with the signal as proof; the tenant's own messages stay the
person's choice; without the signal the same boxes are requested."""

from __future__ import annotations

import uuid

from consent import tokens
from optinbase.settings import get_settings
from tests.factories import make_contact, make_notice, make_purpose, make_tenant


async def _tenant():
    tenant = await make_tenant()
    for key in ("news", "partners", "ads"):
        await make_purpose(tenant, key=key)
    news = await make_notice(tenant, purpose="news", channels=("email",),
                             text="Our own newsletter.")
    partners = await make_notice(tenant, purpose="partners", channels=("email",),
                                 text="Offers from our partners.", partners=["Acme", "Globex"])
    ads = await make_notice(tenant, purpose="ads", channels=("social_ads",),
                            text="Show me ads on social networks.")
    return tenant, {"news": news, "partners": partners, "ads": ads}


def _form(email, notices):
    return {"email": email, "consent": ["news:email", "partners:email", "ads:social_ads"],
            **{f"notice.{k}": n["id"] for k, n in notices.items()}}


async def _states(client, tenant, email):
    [contact] = (await client.get("/v1/contacts", params={"email": email},
                                  headers=tenant.headers)).json()["items"]
    states = (await client.get(f"/v1/contacts/{contact['id']}/consents",
                               headers=tenant.headers)).json()
    return contact, {(s["purpose"], s["channel"]): s for s in states}


async def test_gpc_refuses_partner_transfers_and_social_ads(client):
    tenant, notices = await _tenant()
    answer = await client.post(f"/p/{tenant.slug}/subscribe", headers={"Sec-GPC": "1"},
                               data=_form("gpc@example.org", notices))
    assert answer.status_code == 200
    contact, states = await _states(client, tenant, "gpc@example.org")
    assert states[("news", "email")]["status"] == "pending"  # the tenant's own: asked
    assert states[("partners", "email")]["status"] == "refused"
    assert states[("ads", "social_ads")]["status"] == "refused"
    events = (await client.get(f"/v1/contacts/{contact['id']}/consent-events",
                               headers=tenant.headers)).json()["items"]
    refused = [e for e in events if e["action"] == "refused"]
    assert refused and all(e["source"] == "Sec-GPC: 1" for e in refused)
    partner_refusal = next(e for e in refused if e["purpose"] == "partners")
    assert partner_refusal["notice_id"] == notices["partners"]["id"]  # what was refused


async def test_without_the_signal_the_same_boxes_are_requested(client):
    tenant, notices = await _tenant()
    await client.post(f"/p/{tenant.slug}/subscribe", data=_form("plain@example.org", notices))
    _, states = await _states(client, tenant, "plain@example.org")
    assert {k: s["status"] for k, s in states.items()} == {
        ("news", "email"): "pending", ("partners", "email"): "pending",
        ("ads", "social_ads"): "pending"}


async def test_preference_centre_with_gpc_grants_no_partner_transfer(client):
    tenant, notices = await _tenant()
    person = await make_contact(tenant, email="pref@example.org")
    purpose = (await client.get("/v1/purposes/news", headers=tenant.headers)).json()
    link = tokens.make_token(get_settings().secret_key, tenant.id, uuid.UUID(person["id"]),
                             uuid.UUID(purpose["id"]), "email")
    saved = await client.post(f"/p/preferences/{link}", headers={"Sec-GPC": "1"}, data={
        "consent": ["news:email", "partners:email", "ads:social_ads"],
        **{f"notice.{k}": n["id"] for k, n in notices.items()}})
    assert saved.status_code == 200
    _, states = await _states(client, tenant, "pref@example.org")
    assert states[("news", "email")]["status"] == "pending"  # a link requests; the e-mail confirms
    for kept in (("partners", "email"), ("ads", "social_ads")):  # not even requested
        assert kept not in states or states[kept]["status"] not in ("granted", "pending")
