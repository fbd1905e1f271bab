"""Double opt-in and one-click unsubscribe through the public pages (in process):
GET never changes anything; tampered, expired, reused or foreign links change
nothing and say why."""

from __future__ import annotations

import datetime as dt
import re
import uuid

from consent.journey import double_opt_in
from optinbase import db
from optinbase.settings import get_settings
from tests.factories import make_contact, make_notice, make_purpose, make_tenant
from workers import housekeeping

LINK = re.compile(r"http://127\.0\.0\.1:8000/p/confirm/([A-Za-z0-9_-]+)")


async def _pending(client, tenant, locale="fr"):
    await make_purpose(tenant)
    notice = await make_notice(tenant, text="Oui, envoyez-moi la lettre mensuelle.")
    contact = await make_contact(tenant, locale=locale)
    answer = await client.post(
        f"/v1/contacts/{contact['id']}/consents",
        json={"channel": "email", "purpose": "newsletter", "action": "grant", "method": "web_form",
              "notice_id": notice["id"], "double_opt_in": True, "ip": "198.51.100.4"},
        headers=tenant.headers,
    )
    assert answer.status_code == 201 and answer.json()["status"] == "pending", answer.text
    async with db.tenant_transaction(tenant.id, write=False):
        mail = await db.fetchrow(
            "SELECT recipient, subject, payload FROM outbox_message WHERE tenant_id = {}",
            tenant.id,
        )
    return contact, mail


async def _check(client, tenant, contact) -> dict:
    return (await client.get(
        "/v1/consent-check",
        params={"contact_id": contact["id"], "channel": "email", "purpose": "newsletter"},
        headers=tenant.headers,
    )).json()


async def _events(client, tenant, contact) -> list[dict]:
    return (await client.get(f"/v1/contacts/{contact['id']}/consent-events",
                             headers=tenant.headers)).json()["items"]


async def test_confirmation_mail_page_and_button(client):
    tenant = await make_tenant()
    contact, mail = await _pending(client, tenant)
    assert mail["recipient"] == contact["email"]
    assert "Confirmez" in mail["subject"]  # the contact's locale is French
    payload = mail["payload"] if isinstance(mail["payload"], dict) else __import__("json").loads(mail["payload"])
    assert payload["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    token = LINK.search(payload["text"]).group(1)

    for _ in range(2):  # a mail scanner opening the link twice changes nothing
        page = await client.get(f"/p/confirm/{token}")
        assert page.status_code == 200
        assert "Oui, envoyez-moi la lettre mensuelle." in page.text
        assert '<form method="post"' in page.text and 'lang="fr"' in page.text
    assert (await _check(client, tenant, contact))["status"] == "pending"

    done = await client.post(f"/p/confirm/{token}", headers={"User-Agent": "Firefox/140"})
    assert done.status_code == 200 and "confirmée" in done.text
    assert (await _check(client, tenant, contact))["allowed"] is True
    again = await client.post(f"/p/confirm/{token}", headers={"Accept": "application/json"})
    assert again.json()["state"] == "confirmed"
    events = await _events(client, tenant, contact)
    assert [e["action"] for e in events] == ["requested", "confirmed"]
    assert events[1]["method"] == "double_opt_in" and events[1]["actor"] == "subject"
    assert events[1]["user_agent"] == "Firefox/140" and events[1]["ip"]


async def test_bad_links_change_nothing(client):
    tenant = await make_tenant()
    contact, mail = await _pending(client, tenant, locale="en")
    payload = mail["payload"] if isinstance(mail["payload"], dict) else __import__("json").loads(mail["payload"])
    token = LINK.search(payload["text"]).group(1)
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    secret = get_settings().secret_key
    real = double_opt_in.read_token(secret, token)
    expired = double_opt_in.make_token(secret, real.tenant_id, real.event_id,
                                       dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1))
    other = await make_tenant()
    foreign = double_opt_in.make_token(secret, other.id, real.event_id,
                                       dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1))
    for bad, status in ((tampered, 404), ("nonsense", 404), (foreign, 404), (expired, 410),
                        (double_opt_in.make_token(secret, real.tenant_id, uuid.uuid4(),
                                                  real.expires_at), 404)):
        answer = await client.post(f"/p/confirm/{bad}")
        assert answer.status_code == status, (bad, answer.text)
        assert "<form" not in answer.text
    assert (await _check(client, tenant, contact))["status"] == "pending"
    assert [e["action"] for e in await _events(client, tenant, contact)] == ["requested"]


async def test_one_click_unsubscribe(client):
    tenant = await make_tenant()
    contact, mail = await _pending(client, tenant, locale="en")
    payload = mail["payload"] if isinstance(mail["payload"], dict) else __import__("json").loads(mail["payload"])
    token = LINK.search(payload["text"]).group(1)
    await client.post(f"/p/confirm/{token}")
    unsubscribe = re.search(r"<(http://[^>]+)>", payload["headers"]["List-Unsubscribe"]).group(1)
    path = unsubscribe.replace("http://127.0.0.1:8000", "")
    page = await client.get(path)
    assert page.status_code == 200 and "Unsubscribe me" in page.text
    assert (await _check(client, tenant, contact))["allowed"] is True  # GET changed nothing
    done = await client.post(path, content=b"List-Unsubscribe=One-Click",
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert done.status_code == 200 and "no longer receive" in done.text
    assert (await _check(client, tenant, contact))["status"] == "withdrawn"
    await client.post(path, content=b"List-Unsubscribe=One-Click")
    actions = [e["action"] for e in await _events(client, tenant, contact)]
    assert actions == ["requested", "confirmed", "withdrawn"]
    assert (await _events(client, tenant, contact))[-1]["method"] == "one_click_unsubscribe"
    tampered = await client.post(path[:-3] + "xyz")
    assert tampered.status_code == 404
    # A genuine signature naming another tenant finds nobody there.
    other = await make_tenant()
    link = __import__("consent.tokens", fromlist=["x"]).verify_token(get_settings().secret_key,
                                                                  path.rsplit("/", 1)[1])
    foreign = __import__("consent.tokens", fromlist=["x"]).make_token(
        get_settings().secret_key, other.id, link.contact_id, link.purpose_id, "email")
    assert (await client.post(f"/p/unsubscribe/{foreign}")).status_code == 404
    assert (await client.get(f"/p/unsubscribe/{foreign}")).status_code == 404


async def test_gpc_on_confirmation_refuses_social_ads(client):
    tenant = await make_tenant()
    contact, mail = await _pending(client, tenant, locale="en")
    payload = mail["payload"] if isinstance(mail["payload"], dict) else __import__("json").loads(mail["payload"])
    token = LINK.search(payload["text"]).group(1)
    assert (await client.post(f"/p/confirm/{token}", headers={"Sec-GPC": "1"})).status_code == 200
    states = (await client.get(f"/v1/contacts/{contact['id']}/consents",
                               headers=tenant.headers)).json()
    assert {(s["channel"], s["status"]) for s in states} == {("email", "granted"),
                                                             ("social_ads", "refused")}
    refusal = (await _events(client, tenant, contact))[-1]
    assert refusal["source"] == "Sec-GPC: 1" and refusal["action"] == "refused"


async def test_unconfirmed_requests_expire_after_the_lifetime(client):
    tenant = await make_tenant()
    contact, mail = await _pending(client, tenant, locale="en")
    await housekeeping.expire_due(dt.datetime.now(dt.timezone.utc))
    assert (await _check(client, tenant, contact))["status"] == "pending"  # still in time
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=73)
    assert await housekeeping.expire_due(later) >= 1
    assert (await _check(client, tenant, contact))["status"] == "expired"
    events = await _events(client, tenant, contact)
    assert [(e["action"], e["actor"]) for e in events] == [("requested", "api_key:" + tenant.key.split("_")[1]), ("expired", "system")]
    payload = mail["payload"] if isinstance(mail["payload"], dict) else __import__("json").loads(mail["payload"])
    token = LINK.search(payload["text"]).group(1)
    assert (await client.post(f"/p/confirm/{token}")).status_code == 410
