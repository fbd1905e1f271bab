"""Forms on tenants' websites, on both engines: versioned definitions through
the API, the hosted page (never pre-checked, framed only by listed origins),
the embed script, submissions checked against the allowed origins (CORS for
that endpoint only), the proof (form version, notice, page URL without query,
IP, user agent), double or single opt-in."""

from __future__ import annotations

import re

from optinbase import db
from tests.factories import make_notice, make_purpose, make_tenant

SHOP = "https://shop.example.com"


async def setup_form(client, **extra) -> tuple:
    tenant = await make_tenant()
    await make_purpose(tenant, "newsletter")
    await make_notice(tenant, "newsletter", channels=("email", "sms"), text="Send me the letter.")
    await make_notice(tenant, "newsletter", channels=("email",), language="fr",
                      text="Envoyez-moi la lettre.")
    body = {"name": "Footer", "purposes": ["newsletter"], "channels": ["email"],
            "language": "fr", "allowed_origins": [SHOP],
            "fields": [{"name": "email", "required": True}, {"name": "first_name"},
                       {"name": "attributes.shoe_size", "type": "number"}], **extra}
    answer = await client.post("/v1/forms", headers=tenant.headers, json=body)
    assert answer.status_code == 201, answer.text
    return tenant, answer.json()


async def submit(client, tenant, form, origin=SHOP, **body):
    payload = {"fields": {"email": "anne@example.com", "first_name": "Anne",
                          "attributes.shoe_size": "38"},
               "consents": [{"purpose": "newsletter", "channel": "email"}],
               "page_url": f"{SHOP}/landing?utm_source=mail&email=anne@example.com", **body}
    headers = {"Accept": "application/json", "User-Agent": "FormTest/1"}
    if origin:
        headers["Origin"] = origin
    return await client.post(f"/p/{tenant.slug}/forms/{form['id']}", json=payload,
                             headers=headers)


async def events_of(client, tenant, email="anne@example.com") -> list[dict]:
    people = (await client.get("/v1/contacts", params={"email": email},
                               headers=tenant.headers)).json()["items"]
    assert len(people) == 1
    answer = await client.get(f"/v1/contacts/{people[0]['id']}/consent-events",
                              headers=tenant.headers)
    data = answer.json()
    return data["items"] if isinstance(data, dict) else data


async def test_definitions_are_versioned(client):
    tenant, form = await setup_form(client)
    assert form["version"] == 1
    [offer] = form["offers"]
    assert (offer["channel"], offer["notice_version"], offer["notice_text"]) == (
        "email", 2, "Envoyez-moi la lettre.")  # the form's language wins
    assert form["embed"]["url"].endswith(f"/p/{tenant.slug}/forms/{form['id']}")
    assert f'{form["embed"]["url"]}/embed.js' in form["embed"]["script"]
    assert form["embed"]["url"] in form["embed"]["iframe"]
    changed = await client.patch(f"/v1/forms/{form['id']}", headers=tenant.headers,
                                 json={"channels": ["email", "sms"], "texts": {"title": "Join"}})
    assert changed.status_code == 200, changed.text
    assert changed.json()["version"] == 2 and len(changed.json()["offers"]) == 2
    assert (await client.get(f"/v1/forms/{form['id']}", headers=tenant.headers)).json()[
        "version"] == 2
    listed = (await client.get("/v1/forms", headers=tenant.headers)).json()
    assert [f["id"] for f in listed] == [form["id"]]
    # Refused: a channel no notice covers, an unknown field, a bad pattern.
    for bad in ({"channels": ["postal"]}, {"fields": [{"name": "password"}]},
                {"fields": [{"name": "email", "required": True},
                            {"name": "attributes.x", "pattern": "("}]},
                {"allowed_origins": ["javascript:alert(1)"]}):
        answer = await client.patch(f"/v1/forms/{form['id']}", headers=tenant.headers, json=bad)
        assert answer.status_code == 422, (bad, answer.text)
    other = await make_tenant()
    assert (await client.get(f"/v1/forms/{form['id']}", headers=other.headers)).status_code == 404
    assert (await client.get(f"/p/{other.slug}/forms/{form['id']}")).status_code == 404
    # Another tenant can neither change it, nor list it, nor collect consent through it.
    assert (await client.patch(f"/v1/forms/{form['id']}", headers=other.headers,
                               json={"texts": {"title": "Mine"}})).status_code == 404
    assert (await client.get("/v1/forms", headers=other.headers)).json() == []
    assert (await submit(client, other, form)).status_code == 404
    assert (await client.get(f"/v1/forms/{form['id']}", headers=tenant.headers)).json()[
        "version"] == 2


async def test_hosted_page_and_script(client):
    tenant, form = await setup_form(client)
    page = await client.get(f"/p/{tenant.slug}/forms/{form['id']}")
    assert page.status_code == 200
    assert "Envoyez-moi la lettre." in page.text
    boxes = re.findall(r"<input[^>]*type=\"checkbox\"[^>]*>", page.text)
    assert boxes and not any("checked" in b for b in boxes)  # never pre-checked
    assert f"frame-ancestors 'self' {SHOP}" in page.headers["content-security-policy"]
    assert "x-frame-options" not in page.headers
    script = await client.get(f"/p/{tenant.slug}/forms/{form['id']}/embed.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert form["id"] in script.text and "</script>" not in script.text


async def test_submission_records_the_proof(client, backend):
    tenant, form = await setup_form(client)
    answer = await submit(client, tenant, form)
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"status": "confirmation_sent"}
    assert answer.headers["access-control-allow-origin"] == SHOP
    [event] = await events_of(client, tenant)
    assert event["action"] == "requested" and event["method"] == "web_form"
    assert event["notice_id"] == form["offers"][0]["notice_id"]
    assert event["source"] == f"form {form['id']} v1 on {SHOP}/landing"
    assert event["user_agent"] == "FormTest/1" and event["ip"]
    people = (await client.get("/v1/contacts", params={"email": "anne@example.com"},
                               headers=tenant.headers)).json()["items"]
    assert (people[0]["first_name"], people[0]["attributes"]) == ("Anne", {"shoe_size": 38})
    async with db.tenant_transaction(tenant.id):
        mails = await db.fetch("SELECT recipient FROM outbox_message WHERE tenant_id = {}"
                               " AND kind = 'email'", tenant.id)
    assert [m["recipient"] for m in mails] == ["anne@example.com"]


async def test_origins_not_listed_are_refused(client):
    tenant, form = await setup_form(client)
    for origin in ("https://evil.example.com", "http://shop.example.com", None, "null"):
        answer = await submit(client, tenant, form, origin=origin)
        assert answer.status_code == 403, (origin, answer.text)
        assert "access-control-allow-origin" not in answer.headers
    preflight = await client.options(f"/p/{tenant.slug}/forms/{form['id']}",
                                     headers={"Origin": "https://evil.example.com",
                                              "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in preflight.headers
    allowed = await client.options(f"/p/{tenant.slug}/forms/{form['id']}",
                                   headers={"Origin": SHOP, "Access-Control-Request-Method": "POST"})
    assert allowed.status_code == 204 and allowed.headers["access-control-allow-origin"] == SHOP
    # Nothing was recorded by the refused ones.
    people = (await client.get("/v1/contacts", params={"email": "anne@example.com"},
                               headers=tenant.headers)).json()["items"]
    assert people == []


async def test_single_opt_in_and_bad_submissions(client):
    tenant, form = await setup_form(client, double_opt_in=False, redirect_url=f"{SHOP}/thanks")
    answer = await submit(client, tenant, form)
    assert answer.json() == {"status": "subscribed", "redirect_url": f"{SHOP}/thanks"}
    [event] = await events_of(client, tenant)
    assert event["action"] == "granted"
    for body in ({"consents": [{"purpose": "newsletter", "channel": "sms"}]},
                 {"consents": []},
                 {"fields": {"email": "b@example.com", "password": "x"}},
                 {"fields": {"email": "not an address"}},
                 {"fields": {"email": "c@example.com", "attributes.shoe_size": "big"}},
                 {"fields": {"email": "d@example.com\x00"}}):
        answer = await submit(client, tenant, form, **body)
        assert answer.status_code == 422, (body, answer.text)
