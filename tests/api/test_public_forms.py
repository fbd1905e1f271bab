"""The hosted subscribe form and the preference centre, in process."""

from __future__ import annotations

import html
import json
import re
import uuid

from consent import tokens
from optinbase import db, limits
from optinbase.settings import get_settings
from tests.factories import make_contact, make_notice, make_purpose, make_tenant
from tests.messaging.scenes import confirmation_tokens

CONFIRM = re.compile(r"/p/confirm/([A-Za-z0-9_-]+)")


async def _form_tenant():
    tenant = await make_tenant()
    await make_purpose(tenant, key="news")
    await make_purpose(tenant, key="ads")
    news = await make_notice(tenant, purpose="news", channels=("email", "sms"),
                             text="I want the news by e-mail or SMS.")
    ads = await make_notice(tenant, purpose="ads", channels=("social_ads",),
                            text="Show me ads on social networks.")
    return tenant, news, ads


async def _mails(tenant) -> list:
    async with db.tenant_transaction(tenant.id, write=False):
        rows = await db.fetch("SELECT recipient, payload FROM outbox_message WHERE tenant_id = {}",
                              tenant.id)
    return [(r["recipient"], r["payload"] if isinstance(r["payload"], dict)
             else json.loads(r["payload"])) for r in rows]


async def _states(client, tenant, email) -> dict:
    contact = (await client.get("/v1/contacts", params={"email": email},
                                headers=tenant.headers)).json()["items"]
    if not contact:
        return {}
    states = (await client.get(f"/v1/contacts/{contact[0]['id']}/consents",
                               headers=tenant.headers)).json()
    return {(s["purpose"], s["channel"]): s["status"] for s in states}


async def test_form_shows_notices_verbatim_and_nothing_checked(client):
    tenant, news, ads = await _form_tenant()
    page = await client.get(f"/p/{tenant.slug}/subscribe", headers={"Accept-Language": "en"})
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert news["text"] in text and ads["text"] in text
    assert "checked" not in page.text
    assert page.text.count('type="checkbox"') == 3
    for box in ("c-news-email", "c-news-sms", "c-ads-social_ads", "email", "phone"):
        assert f'for="{box}"' in page.text  # every field has a label


async def test_form_post_requests_and_one_link_confirms_all(client):
    limits.forget()
    tenant, news, ads = await _form_tenant()
    answer = await client.post(
        f"/p/{tenant.slug}/subscribe", headers={"Accept-Language": "en-GB,en;q=0.8"},
        data={"email": "Zoe@Example.org", "phone": "+33 6 12 34 56 78",
              "consent": ["news:email", "news:sms"],
              "notice.news": news["id"], "notice.ads": ads["id"], "website": ""},
    )
    assert answer.status_code == 200 and "Open the e-mail" in answer.text
    assert await _states(client, tenant, "zoe@example.org") == {
        ("news", "email"): "pending", ("news", "sms"): "pending"}
    [(recipient, payload)] = await _mails(tenant)
    assert recipient == "zoe@example.org"
    token = CONFIRM.search(payload["text"]).group(1)
    assert (await client.post(f"/p/confirm/{token}")).status_code == 200
    assert await _states(client, tenant, "zoe@example.org") == {
        ("news", "email"): "granted", ("news", "sms"): "granted"}


async def test_honeypot_and_rate_limit_record_nothing(client):
    limits.forget()
    tenant, news, _ = await _form_tenant()
    body = {"email": "bot@example.org", "consent": ["news:email"], "notice.news": news["id"],
            "website": "http://spam.example"}
    assert (await client.post(f"/p/{tenant.slug}/subscribe", data=body)).status_code == 200
    assert await _states(client, tenant, "bot@example.org") == {}
    body["website"] = ""
    statuses = [(await client.post(f"/p/{tenant.slug}/subscribe",
                                   data={**body, "email": f"p{i}@example.org"})).status_code
                for i in range(11)]
    assert statuses[:9] == [200] * 9 and statuses[-1] == 429
    limits.forget()


async def test_json_mode_and_bad_input(client):
    limits.forget()
    tenant, news, ads = await _form_tenant()
    ok = await client.post(f"/p/{tenant.slug}/subscribe", json={
        "email": "json@example.org",
        "consents": [{"channel": "email", "purpose": "news", "notice_id": news["id"]}]})
    assert ok.status_code == 202 and ok.json() == {"status": "confirmation_sent"}
    for body in ({"email": "not-an-email", "consents": [
                    {"channel": "email", "purpose": "news", "notice_id": news["id"]}]},
                 {"email": "x@example.org", "consents": [
                    {"channel": "postal", "purpose": "news", "notice_id": news["id"]}]},
                 {"email": "x@example.org", "consents": [], "extra": 1}):
        bad = await client.post(f"/p/{tenant.slug}/subscribe", json=body)
        assert bad.status_code == 422, (body, bad.text)
    assert await _states(client, tenant, "x@example.org") == {}
    missing = await client.get("/p/no-such-tenant/subscribe")
    assert missing.status_code == 404


async def test_global_privacy_control_refuses_social_ads(client):
    limits.forget()
    tenant, news, ads = await _form_tenant()
    answer = await client.post(
        f"/p/{tenant.slug}/subscribe", headers={"Sec-GPC": "1"},
        data={"email": "gpc@example.org", "consent": ["news:email", "ads:social_ads"],
              "notice.news": news["id"], "notice.ads": ads["id"]})
    assert answer.status_code == 200
    states = await _states(client, tenant, "gpc@example.org")
    assert states[("news", "email")] == "pending"
    assert states[("ads", "social_ads")] == "refused"
    assert states[("news", "social_ads")] == "refused"


async def test_preference_centre_changes_each_box_with_proof(client):
    limits.forget()
    tenant, news, ads = await _form_tenant()
    created = await make_contact(tenant, email="pref@example.org")
    purpose = (await client.get("/v1/purposes/news", headers=tenant.headers)).json()
    link = tokens.make_token(get_settings().secret_key, tenant.id, uuid.UUID(created["id"]),
                             uuid.UUID(purpose["id"]), "email")
    page = await client.get(f"/p/preferences/{link}")
    assert page.status_code == 200 and "checked" not in page.text
    assert 'value="news:sms"' not in page.text  # a link never offers a new SMS grant
    saved = await client.post(f"/p/preferences/{link}", data={
        "consent": ["news:email", "ads:social_ads"], "notice.news": news["id"],
        "notice.ads": ads["id"]})
    assert saved.status_code == 200 and "choix sont enregistrés" in html.unescape(saved.text)
    assert await _states(client, tenant, "pref@example.org") == {
        ("news", "email"): "pending", ("ads", "social_ads"): "pending"}  # a link only asks
    [token] = await confirmation_tokens(tenant, "pref@example.org")  # one e-mail for both
    assert (await client.post(f"/p/confirm/{token}")).status_code == 200
    assert await _states(client, tenant, "pref@example.org") == {
        ("news", "email"): "granted", ("ads", "social_ads"): "granted"}
    await client.post(f"/p/preferences/{link}", data={
        "consent": ["news:email"], "notice.news": news["id"], "notice.ads": ads["id"]})
    assert await _states(client, tenant, "pref@example.org") == {
        ("news", "email"): "granted", ("ads", "social_ads"): "withdrawn"}
    events = (await client.get(f"/v1/contacts/{created['id']}/consent-events",
                               headers=tenant.headers)).json()["items"]
    assert {e["method"] for e in events if e["action"] in ("requested", "withdrawn")} == {
        "preference_centre"}  # the link's own acts; the confirmation is the e-mail's
    assert all(e["notice_id"] for e in events if e["action"] in ("requested", "granted"))
    foreign = await make_tenant()
    forged = tokens.make_token("wrong-key" * 5, foreign.id, uuid.uuid4(), uuid.uuid4(), "email")
    assert (await client.get(f"/p/preferences/{forged}")).status_code == 404
