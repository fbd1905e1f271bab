"""The headers and origin rules against a real browser (Chromium) and a real
server: the pages render and their forms post with no Content-Security-Policy
violation, the subscribe form's own POST passes the origin check (the browser
sends the page's Origin), and the unsubscribe page's button — posted as
`Origin: null` under `Referrer-Policy: no-referrer` — still unsubscribes."""

from __future__ import annotations

import uuid

import pytest

from consent import tokens
from tests.e2e.browser.chromium import running
from tests.factories import grant, make_contact, make_notice, make_purpose, make_tenant, unique_slug


@pytest.fixture
async def scene(engine: str, server) -> dict:
    tenant = await make_tenant(slug=unique_slug("guard-csp"))
    purpose = await make_purpose(tenant)
    notice = await make_notice(tenant, "newsletter", ("email",))
    contact = await make_contact(tenant, email=f"{uuid.uuid4().hex[:8]}@example.org")
    await grant(tenant, contact["id"], notice["id"])
    secret = (server.workdir / "secret").read_text().strip()
    token = tokens.make_token(secret, tenant.id, uuid.UUID(contact["id"]),
                              uuid.UUID(purpose["id"]), "email")
    return {"slug": tenant.slug, "unsubscribe": f"/p/unsubscribe/{token}"}


def _violations(page) -> list[str]:
    seen: list[str] = []
    page.on("console", lambda message: seen.append(page.url + " " + message.text)
            if "Content Security Policy" in message.text or "Refused to" in message.text
            else None)
    return seen


def test_pages_work_under_their_policies(server, scene, engine):
    with running() as browser:
        page = browser.new_context().new_page()
        violations = _violations(page)
        page.goto(f"{server.base_url}/p/{scene['slug']}/subscribe")
        page.fill('input[name="email"]', "browser-csp@example.org")
        page.locator('input[type="checkbox"]').first.check()
        with page.expect_response(f"**/p/{scene['slug']}/subscribe") as posted:
            page.click('button[type="submit"]')
        assert posted.value.status == 200  # the browser's Origin passed
        assert posted.value.request.header_value("origin") == server.base_url

        page.goto(f"{server.base_url}{scene['unsubscribe']}")
        assert page.evaluate("document.referrer") == ""
        with page.expect_response(f"**{scene['unsubscribe']}") as posted:
            page.click('button[type="submit"]')
        assert posted.value.status == 200
        assert posted.value.request.header_value("origin") == "null"
        assert page.locator('[role="status"]').count() == 1  # unsubscribed

        if engine == "sqlite":  # Swagger UI reads no table (and costs ~5 s of CPU to lay out)
            page.goto(f"{server.base_url}/schema")
            page.locator(".swagger-ui .info .title").wait_for(timeout=20_000)
        page.goto(f"{server.base_url}/admin/")
        page.locator('input[name="username"]').wait_for(timeout=20_000)
        assert violations == []
