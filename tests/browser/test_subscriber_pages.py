"""The subscriber's pages in Chromium (Debian's, driven by Playwright) against a
real server process and a real SMTP server: the subscribe form, the confirm
page and the preference centre, used with the keyboard through labelled fields."""

from __future__ import annotations

import re
import time

import httpx

from tests.browser.chromium import launch, sync_api
from tests.e2e.serving import serving
from tests.messaging.smtp import SmtpServer

NOTICE = "I would like Acme's monthly letter, by e-mail or by SMS."


def _mail(smtp: SmtpServer, count: int) -> str:
    deadline = time.monotonic() + 20
    while len(smtp.messages) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(smtp.messages) >= count, "no e-mail arrived"
    return smtp.messages[count - 1].get_content()


def test_subscribe_confirm_and_preferences_by_keyboard(tmp_path):
    smtp = SmtpServer().start()
    try:
        with serving(tmp_path, SMTP_URL=smtp.url) as server:
            server.cli("tenants", "create", "acme", "--name", "Acme SAS")
            key = server.cli("keys", "create", "--tenant", "acme").splitlines()[-1]
            api = httpx.Client(base_url=server.base_url, timeout=10,
                               headers={"Authorization": f"Bearer {key}"})
            api.post("/v1/purposes", json={"key": "letter", "name": "Monthly letter"}).raise_for_status()
            api.post("/v1/notices", json={"purpose": "letter", "channels": ["email", "sms"],
                                          "language": "en", "text": NOTICE}).raise_for_status()

            with sync_api.sync_playwright() as playwright:
                browser = launch(playwright)
                page = browser.new_context(locale="en-GB").new_page()
                page.goto(f"{server.base_url}/p/acme/subscribe")
                assert page.locator("html").get_attribute("lang") == "en"
                assert NOTICE in page.locator("blockquote").inner_text()
                email_box = page.get_by_label("By e-mail", exact=False)
                boxes = page.locator('input[type="checkbox"]')
                assert boxes.count() == 2
                assert not any(boxes.nth(i).is_checked() for i in range(2))  # never pre-checked

                # Keyboard only: the e-mail field, then Tab to the first box, Space, Enter.
                page.get_by_label("E-mail address (required)").focus()
                page.keyboard.type("kim@example.org")
                page.keyboard.press("Tab")   # phone
                page.keyboard.press("Tab")   # first box (e-mail channel)
                page.keyboard.press("Space")
                assert email_box.is_checked()
                page.get_by_role("button", name="Subscribe").focus()
                page.keyboard.press("Enter")
                page.get_by_text("Open the e-mail we just sent").wait_for()
                page.screenshot(path=str(tmp_path / "subscribed.png"))

                text = _mail(smtp, 1)
                confirm = re.search(r"(http://\S+/p/confirm/\S+)", text).group(1)
                preferences = re.search(r"(http://\S+/p/preferences/\S+)", text).group(1)

                page.goto(confirm)
                assert NOTICE in page.locator("blockquote").inner_text()
                page.get_by_role("button", name="Confirm").focus()
                page.keyboard.press("Enter")
                page.get_by_text("is confirmed").wait_for()

                check = api.get("/v1/consent-check", params={
                    "email": "kim@example.org", "channel": "email", "purpose": "letter"}).json()
                assert check["allowed"] is True

                page.goto(preferences)
                by_mail = page.get_by_label("I agree, by e-mail")
                by_sms = page.get_by_label("I agree, by SMS")
                assert by_mail.is_checked() and not by_sms.is_checked()
                by_mail.focus()
                page.keyboard.press("Space")  # untick e-mail
                by_sms.focus()
                page.keyboard.press("Space")  # tick SMS
                page.get_by_role("button", name="Save my choices").click()
                page.get_by_text("Your choices are saved.").wait_for()
                assert not page.get_by_label("I agree, by e-mail").is_checked()
                assert page.get_by_label("I agree, by SMS").is_checked()
                page.screenshot(path=str(tmp_path / "preferences.png"), full_page=True)
                browser.close()

            [contact] = api.get("/v1/contacts", params={"email": "kim@example.org"}).json()["items"]
            states = {(s["purpose"], s["channel"]): s["status"]
                      for s in api.get(f"/v1/contacts/{contact['id']}/consents").json()}
            assert states == {("letter", "email"): "withdrawn", ("letter", "sms"): "granted"}
    finally:
        smtp.stop()
