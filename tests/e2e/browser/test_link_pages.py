"""Issue 12 §3 and §5 in Chromium against a real server and a real SMTP server.

What a link that travels may do (consent.journey.link_rules): the links an
export hands to an e-mail provider open the unsubscribe page, whose button
withdraws exactly that purpose and channel, whose other button withdraws
everything, and which leads to the preference centre; there a new e-mail grant
on a double-opt-in tenant waits for the confirmation e-mail, and SMS is never
offered. What the person sees is what is recorded: the form asks for the phone
next to its field, the confirm page names every consent it confirms."""

from __future__ import annotations

import json
import re
import time

import httpx
import pytest

from tests import processes
from tests.e2e.browser.chromium import running
from tests.factories import TenantFixture, make_notice, make_purpose, make_tenant, unique_slug


@pytest.fixture
async def tenant(engine: str) -> TenantFixture:
    acme = await make_tenant(slug=unique_slug("links"), name="Links SAS")
    await make_purpose(acme, "letter", name="Monthly letter")
    await make_purpose(acme, "promo", name="Promotions")
    await make_notice(acme, "letter", ("email", "sms"), text="The letter, by e-mail or SMS.")
    await make_notice(acme, "promo", ("email",), text="Promotions by e-mail.")
    return acme


def _confirm_link(smtp, address: str) -> str:
    """The confirmation link of the last e-mail to `address` (the server's
    outbox worker delivers it within seconds)."""
    deadline = time.monotonic() + 20
    while not smtp.mail_to(address):
        assert time.monotonic() < deadline, "no confirmation e-mail"
        time.sleep(0.2)
    text = smtp.mail_to(address)[-1].get_content()
    return re.search(r"(http://\S+/p/confirm/\S+)", text).group(1)


def _states(api: httpx.Client, contact_id: str) -> dict:
    return {(s["purpose"], s["channel"]): s["status"]
            for s in api.get(f"/v1/contacts/{contact_id}/consents").json()}


def test_unsubscribe_page_and_preference_centre_reached_by_a_link(installation, smtp, tenant,
                                                                   tmp_path):
    kim = f"{unique_slug('kim')}@example.org"
    with installation.serving(SMTP_URL=smtp.url) as server:
        api = processes.http(base_url=server.base_url, timeout=10, headers=tenant.headers)
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

        with running() as browser:
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

            page.goto(_confirm_link(smtp, kim))
            page.get_by_role("button", name="Confirm").click()
            page.get_by_text("is confirmed").wait_for()
            assert _states(api, contact["id"])[("letter", "email")] == "granted"

            page.goto(row["unsubscribe_url"])
            page.get_by_role("button", name="Unsubscribe from everything").click()
            page.get_by_text("you will receive nothing more").wait_for()
            page.screenshot(path=str(tmp_path / "everything.png"), full_page=True)
        assert set(_states(api, contact["id"]).values()) == {"withdrawn"}


def test_form_asks_for_the_phone_and_the_confirm_page_lists_every_consent(installation, smtp,
                                                                          tenant, tmp_path):
    """Issue 12 §5 in the browser: ticking SMS without a phone number puts the
    message next to the phone field (and nothing is recorded); with the number,
    the confirm page names each consent its one button confirms."""
    kim = f"{unique_slug('kim')}@example.org"
    with installation.serving(SMTP_URL=smtp.url) as server:
        api = processes.http(base_url=server.base_url, timeout=10, headers=tenant.headers)
        with running() as browser:
            page = browser.new_context(locale="en-GB").new_page()
            page.goto(f"{server.base_url}/p/{tenant.slug}/subscribe")
            page.get_by_label("E-mail address (required)").fill(kim)
            page.locator('input[value="letter:email"]').check()
            page.locator('input[value="letter:sms"]').check()
            page.locator('input[value="promo:email"]').check()
            page.get_by_role("button", name="Subscribe").click()
            error = page.locator("#phone-error")
            error.wait_for()
            assert "mobile number" in error.inner_text()
            phone = page.locator("#phone")
            assert phone.get_attribute("aria-describedby") == "phone-error"
            assert phone.get_attribute("aria-invalid") == "true"
            assert api.get("/v1/contacts", params={"email": kim}).json()["items"] == []
            page.screenshot(path=str(tmp_path / "phone-needed.png"), full_page=True)

            page.locator("#phone").fill("+33 6 12 34 56 78")
            for box in ("letter:email", "letter:sms", "promo:email"):
                page.locator(f'input[value="{box}"]').check()
            page.get_by_role("button", name="Subscribe").click()
            page.get_by_text("Open the e-mail we just sent").wait_for()

            page.goto(_confirm_link(smtp, kim))
            items = [i.strip() for i in page.locator("#consents > li").all_inner_texts()]
            assert [i.splitlines()[0] for i in items] == [
                "“Monthly letter” by e-mail (text version 1)",
                "“Monthly letter” by SMS (text version 1)",
                "“Promotions” by e-mail (text version 1)"], items
            page.screenshot(path=str(tmp_path / "confirm.png"), full_page=True)
            page.get_by_role("button", name="Confirm").click()
            page.get_by_text("is confirmed").wait_for()
        [contact] = api.get("/v1/contacts", params={"email": kim}).json()["items"]
        assert set(_states(api, contact["id"]).values()) == {"granted"}
        assert len(_states(api, contact["id"])) == 3
