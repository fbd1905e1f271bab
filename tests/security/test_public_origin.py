"""Cross-site request forgery on the public pages (api.origins): a form
without a token accepts POSTs from its own site, PUBLIC_URL, FORM_ORIGINS
and the EXTRA_ORIGINS hooks only; a page of a signed link refuses a foreign
origin but keeps RFC 8058 one-click unsubscribes (no Origin, from a mail
provider) and its own no-referrer posts (`Origin: null`) working."""

from __future__ import annotations

import dataclasses
import uuid

import httpx
import pytest

from api import origins
from api.app import create_app
from consent import tokens
from optinbase import db
from optinbase.settings import get_settings
from tests import apps
from tests.factories import make_contact, make_notice, make_purpose, make_tenant, grant

EVIL = "https://evil.example"


async def _subscribe_form(tenant) -> dict:
    await make_purpose(tenant, "news")
    notice = await make_notice(tenant, "news", ("email",))
    return {"email": "csrf@example.org",
            "consents": [{"channel": "email", "purpose": "news", "notice_id": notice["id"]}]}


async def _requested(tenant) -> int:
    async with db.tenant_transaction(tenant.id, write=False):
        return await db.fetchval("SELECT count(*) FROM consent_event WHERE tenant_id = {}",
                                 tenant.id)


@pytest.mark.parametrize("headers", [
    {"Origin": EVIL},
    {"Origin": "null"},
    {"Origin": "http://testserver.evil.example"},
    {"Sec-Fetch-Site": "cross-site"},
])
async def test_forged_subscriptions_are_refused(client, headers):
    tenant = await make_tenant()
    body = await _subscribe_form(tenant)
    answer = await client.post(f"/p/{tenant.slug}/subscribe", json=body,
                               headers={**headers, "Accept": "application/json"})
    assert answer.status_code == 403
    assert answer.json()["type"].endswith("foreign-origin")
    page = await client.post(f"/p/{tenant.slug}/subscribe", headers={**headers,
                             "Accept-Language": "fr", "Accept": "text/html"},
                             data={"email": "csrf@example.org", "consent": "news:email"})
    assert page.status_code == 403 and "depuis sa propre page" in page.text
    assert await _requested(tenant) == 0


async def test_forged_request_form_is_refused(client):
    tenant = await make_tenant()
    answer = await client.post(f"/p/{tenant.slug}/requests", headers={"Origin": EVIL},
                               data={"kind": "access", "email": "csrf@example.org"})
    assert answer.status_code == 403


@pytest.mark.parametrize("headers", [
    {"Origin": "http://testserver"},           # the page's own site
    {"Origin": "https://testserver"},          # the same, behind a TLS proxy
    {"Sec-Fetch-Site": "same-origin", "Origin": "http://testserver"},
    {},                                        # not a browser: an integrator's server
])
async def test_own_site_and_servers_may_subscribe(client, headers):
    tenant = await make_tenant()
    body = await _subscribe_form(tenant)
    answer = await client.post(f"/p/{tenant.slug}/subscribe", json=body,
                               headers={**headers, "Accept": "application/json"})
    assert answer.status_code == 202, answer.text


async def test_configured_and_hooked_origins(backend, monkeypatch):
    settings = dataclasses.replace(get_settings(), form_origins=("https://shop.example",),
                                   public_url="https://optin.example")
    app = apps.reset(create_app(settings))
    monkeypatch.setattr(origins, "EXTRA_ORIGINS", [lambda scope: ["https://embed.example/"]])
    tenant = await make_tenant()
    body = await _subscribe_form(tenant)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        for origin, status in (("https://shop.example", 202), ("https://optin.example", 202),
                               ("https://embed.example", 202), (EVIL, 403),
                               ("http://shop.example", 403)):
            answer = await http.post(f"/p/{tenant.slug}/subscribe", json=body,
                                     headers={"Origin": origin, "Accept": "application/json"})
            assert answer.status_code == status, (origin, answer.text)


async def test_one_click_unsubscribe_keeps_working_but_not_from_a_foreign_page(client):
    tenant = await make_tenant()
    purpose = await make_purpose(tenant)
    notice = await make_notice(tenant)
    contact = await make_contact(tenant, email="oneclick@example.org")
    await grant(tenant, contact["id"], notice["id"])
    token = tokens.make_token(get_settings().secret_key, tenant.id, uuid.UUID(contact["id"]),
                              uuid.UUID(purpose["id"]), "email")
    one_click = {"List-Unsubscribe": "One-Click"}
    forged = await client.post(f"/p/unsubscribe/{token}", data=one_click,
                               headers={"Origin": EVIL})
    assert forged.status_code == 403
    states = await client.get(f"/v1/contacts/{contact['id']}/consents", headers=tenant.headers)
    assert states.json()[0]["status"] == "granted"
    # A mail provider's one-click POST (no Origin), then the page's own button
    # (Origin: null under no-referrer): both work.
    assert (await client.post(f"/p/unsubscribe/{token}", data=one_click)).status_code == 200
    assert (await client.post(f"/p/unsubscribe/{token}", data=one_click,
                              headers={"Origin": "null"})).status_code == 200
    states = await client.get(f"/v1/contacts/{contact['id']}/consents", headers=tenant.headers)
    assert states.json()[0]["status"] == "withdrawn"


async def test_api_is_not_subject_to_the_origin_rule(client):
    """Bearer keys are not ambient credentials: the API has no CSRF to fear."""
    tenant = await make_tenant()
    answer = await client.post("/v1/purposes", headers={**tenant.headers, "Origin": EVIL},
                               json={"key": "p1", "name": "P1"})
    assert answer.status_code == 201
