"""What a link that travels may do, in Chromium against a real server and a
real SMTP server (issue 12 §3, consent.journey.link_rules): the links an
export hands to an e-mail provider open the unsubscribe page, whose button
withdraws exactly that purpose and channel, whose other button withdraws
everything, and which leads to the preference centre; there a new e-mail grant
on a double-opt-in tenant waits for the confirmation e-mail, and SMS is never
offered."""

from __future__ import annotations

import json
import re
import time

import httpx
import pytest

from tests.e2e.browser.chromium import launch, sync_api
from tests.factories import TenantFixture, make_notice, make_purpose, make_tenant, unique_slug


@pytest.fixture
async def tenant(engine: str) -> TenantFixture:
    acme = await make_tenant(slug=unique_slug("links"), name="Links SAS")
    await make_purpose(acme, "letter", name="Monthly letter")
    await make_purpose(acme, "promo", name="Promotions")
    await make_notice(acme, "letter", ("email", "sms"), text="The letter, by e-mail or SMS.")
    await make_notice(acme, "promo", ("email",), text="Promotions by e-mail.")
    return acme


def _states(api: httpx.Client, contact_id: str) -> dict:
    return {(s["purpose"], s["channel"]): s["status"]
            for s in api.get(f"/v1/contacts/{contact_id}/consents").json()}


def test_unsubscribe_page_and_preference_centre_reached_by_a_link(installation, smtp, tenant,
                                                                   tmp_path):
    kim = f"{unique_slug('kim')}@example.org"
    with installation.serving(SMTP_URL=smtp.url) as running:
        api = httpx.Client(base_url=running.base_url, timeout=10, headers=tenant.headers)
        contact = api.post("/v1/contacts", json={"email": kim, "phone": "+33612345678",
                                                 "locale": "en"}).json()
        notices = {n["purpose"]: n["id"] for n in api.get("/v1/notices").json()}
        for channel, purpose in (("email", "letter"), ("email", "promo")):
            answer = api.post(f"/v1/contacts/{contact['id']}/consents", json={
                "channel": channel, "purpose": purpose, "action": "grant", "method": "api",
                "notice_id": notices[purpose]})
            assert answer.status_code == 201, answer.text
        # Double opt-in from now on (the grants above were given before).
        assert api.patch("/v1/tenant", json={"settings": {
            "double_opt_in_channels": ["email"], "default_locale": "en"}}).status_code == 200
        segment = api.post("/v1/segments", json={"name": "all",
                                                 "rules": {"type": "all", "rules": []}}).json()
        export = api.get(f"/v1/segments/{segment['id']}/export", params={
            "channel": "email", "purpose": "letter", "format": "ndjson"})
        assert export.status_code == 200, export.text
        [row] = [r for r in map(json.loads, export.text.splitlines())
                 if r["id"] == contact["id"]]

        with sync_api.sync_playwright() as playwright:
            browser = launch(playwright)
            page = browser.new_context(locale="en-GB").new_page()
            page.goto(row["unsubscribe_url"])
            page.get_by_role("button", name="Unsubscribe me").click()
            page.get_by_text("you will no longer receive").wait_for()
            assert _states(api, contact["id"]) == {
                ("letter", "email"): "withdrawn", ("promo", "email"): "granted"}

            page.get_by_role("link", name="Choose what you receive").click()
            page.wait_for_url(re.compile(r"/p/preferences/"))
            assert page.get_by_label("I agree, by SMS").count() == 0  # never offered
            letter = page.locator('input[value="letter:email"]')
            assert not letter.is_checked()
            page.get_by_text("we will ask you to confirm by e-mail").first.wait_for()
            letter.check()
            page.get_by_role("button", name="Save my choices").click()
            page.get_by_text("We have sent you an e-mail").wait_for()
            assert page.locator('input[value="letter:email"]').is_checked()  # pending, ticked
            page.screenshot(path=str(tmp_path / "preferences.png"), full_page=True)
            assert _states(api, contact["id"])[("letter", "email")] == "pending"

            deadline = time.monotonic() + 20
            while not smtp.mail_to(kim):
                assert time.monotonic() < deadline, "no confirmation e-mail"
                time.sleep(0.2)
            text = smtp.mail_to(kim)[-1].get_content()
            page.goto(re.search(r"(http://\S+/p/confirm/\S+)", text).group(1))
            page.get_by_role("button", name="Confirm").click()
            page.get_by_text("is confirmed").wait_for()
            assert _states(api, contact["id"])[("letter", "email")] == "granted"

            page.goto(row["unsubscribe_url"])
            page.get_by_role("button", name="Unsubscribe from everything").click()
            page.get_by_text("you will receive nothing more").wait_for()
            page.screenshot(path=str(tmp_path / "everything.png"), full_page=True)
            browser.close()
        assert set(_states(api, contact["id"]).values()) == {"withdrawn"}
