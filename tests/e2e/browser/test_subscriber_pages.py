"""The subscriber's pages in Chromium (Debian's, driven by Playwright) against a
real server process and a real SMTP server: the subscribe form, the confirm
page and the preference centre, used with the keyboard through labelled fields."""

from __future__ import annotations

import re

import pytest

from tests import processes
from tests.e2e.browser.chromium import running
from tests.factories import TenantFixture, make_notice, make_purpose, make_tenant, unique_slug

NOTICE = "I would like Acme's monthly letter, by e-mail or by SMS."


@pytest.fixture
async def tenant(engine: str) -> TenantFixture:
    """A tenant with a monthly letter by e-mail or SMS (tests/factories.py)."""
    acme = await make_tenant(slug=unique_slug("acme"), name="Acme SAS")
    await make_purpose(acme, "letter", name="Monthly letter")
    await make_notice(acme, "letter", ("email", "sms"), text=NOTICE)
    return acme


def test_subscribe_confirm_and_preferences_by_keyboard(installation, smtp, tenant, tmp_path):
    acme, kim = tenant.slug, f"{unique_slug('kim')}@example.org"
    with installation.serving(SMTP_URL=smtp.url) as server:
        api = processes.http(base_url=server.base_url, timeout=10, headers=tenant.headers)

        with running() as browser:
            page = browser.new_context(locale="en-GB").new_page()
            page.goto(f"{server.base_url}/p/{acme}/subscribe")
            assert page.locator("html").get_attribute("lang") == "en"
            assert NOTICE in page.locator("blockquote").inner_text()
            email_box = page.get_by_label("By e-mail", exact=False)
            boxes = page.locator('input[type="checkbox"]')
            assert boxes.count() == 2
            assert not any(boxes.nth(i).is_checked() for i in range(2))  # never pre-checked

            # Keyboard only: the e-mail field, then Tab to the first box, Space, Enter.
            page.get_by_label("E-mail address (required)").focus()
            page.keyboard.type(kim)
            page.keyboard.press("Tab")   # phone
            page.keyboard.press("Tab")   # first box (e-mail channel)
            page.keyboard.press("Space")
            assert email_box.is_checked()
            page.get_by_role("button", name="Subscribe").focus()
            page.keyboard.press("Enter")
            page.get_by_text("Open the e-mail we just sent").wait_for()
            page.screenshot(path=str(tmp_path / "subscribed.png"))

            text = smtp.mail_to(kim)[0].get_content()
            confirm = re.search(r"(http://\S+/p/confirm/\S+)", text).group(1)
            preferences = re.search(r"(http://\S+/p/preferences/\S+)", text).group(1)

            page.goto(confirm)
            assert NOTICE in page.locator("blockquote").inner_text()
            page.get_by_role("button", name="Confirm").focus()
            page.keyboard.press("Enter")
            page.get_by_text("is confirmed").wait_for()

            check = api.get("/v1/consent-check", params={
                "email": kim, "channel": "email", "purpose": "letter"}).json()
            assert check["allowed"] is True

            page.goto(preferences)
            by_mail = page.get_by_label("I agree, by e-mail")
            assert by_mail.is_checked()
            # A link that travels never offers a new SMS grant: no box, a way to the form.
            assert page.get_by_label("I agree, by SMS").count() == 0
            page.get_by_text("cannot be given through this link").wait_for()
            assert page.get_by_role("link", name="Subscription form").get_attribute(
                "href").endswith(f"/p/{acme}/subscribe")
            by_mail.focus()
            page.keyboard.press("Space")  # untick e-mail: withdrawn at once
            page.get_by_role("button", name="Save my choices").click()
            page.get_by_text("Your choices are saved.").wait_for()
            assert not page.get_by_label("I agree, by e-mail").is_checked()
            page.screenshot(path=str(tmp_path / "preferences.png"), full_page=True)

        [contact] = api.get("/v1/contacts", params={"email": kim}).json()["items"]
        states = {(s["purpose"], s["channel"]): s["status"]
                  for s in api.get(f"/v1/contacts/{contact['id']}/consents").json()}
        assert states == {("letter", "email"): "withdrawn"}
