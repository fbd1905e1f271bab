"""A tenant's form embedded in a page of another origin (another port), in
Chromium against a real server process and a real SMTP server: the script
renders the form (never pre-checked) inside the host page, the submission goes
from there to Optinbase (CORS), the confirmation e-mail arrives; the same
snippet on a site the form does not list renders but its submission is
refused, and nothing is recorded. The iframe snippet renders on the listed
site."""

from __future__ import annotations

import pytest

from tests import processes
from tests.e2e.browser.chromium import running
from tests.factories import TenantFixture, make_notice, make_purpose, make_tenant, unique_slug
from tests.local_site import LocalSite
from tests.messaging.smtp import free_port

NOTICE = "I would like Acme's monthly letter by e-mail."


def host_site(snippet: str, port: int) -> LocalSite:
    """Someone else's website: one page holding whatever snippet it is given."""
    body = (f"<!doctype html><html lang='en'><head><title>Shop</title></head><body>"
            f"<h1>Our shop</h1>{snippet}</body></html>").encode()
    return LocalSite(lambda path: ("text/html; charset=utf-8", body), port)


@pytest.fixture
async def tenant(engine: str) -> TenantFixture:
    acme = await make_tenant(slug=unique_slug("acme"), name="Acme SAS")
    await make_purpose(acme, "letter", name="Monthly letter")
    await make_notice(acme, "letter", ("email",), text=NOTICE)
    return acme


def test_embedded_form_across_origins(installation, smtp, tenant):
    kim, eve = f"{unique_slug('kim')}@example.org", f"{unique_slug('eve')}@example.org"
    shop_port, framed_port, other_port = free_port(), free_port(), free_port()
    with installation.serving(SMTP_URL=smtp.url) as server:
        api = processes.http(base_url=server.base_url, timeout=10, headers=tenant.headers)
        made = api.post("/v1/forms", json={
            "name": "Shop footer", "purposes": ["letter"], "channels": ["email"],
            "language": "en", "texts": {"title": "Join our letter"},
            "allowed_origins": [f"http://127.0.0.1:{shop_port}",
                                f"http://127.0.0.1:{framed_port}"],
            "fields": [{"name": "email", "required": True}, {"name": "first_name"}]})
        assert made.status_code == 201, made.text
        embed = made.json()["embed"]
        shop = host_site(embed["script"], shop_port)
        framed = host_site(embed["iframe"], framed_port)
        other = host_site(embed["script"] + embed["iframe"], other_port)  # not listed
        try:
            with running() as browser:
                page = browser.new_context(locale="en-GB").new_page()
                page.goto(shop.origin + "/landing?utm_source=mail")
                page.get_by_role("heading", name="Join our letter").wait_for()
                assert NOTICE in page.locator("blockquote").inner_text()
                box = page.get_by_label("I agree, by e-mail")
                assert not box.is_checked()  # never pre-checked
                page.get_by_label("E-mail address (required)").fill(kim)
                page.get_by_label("First name").fill("Kim")
                box.check()
                page.get_by_role("button", name="Subscribe").click()
                page.get_by_text("Open the e-mail we just sent").wait_for()
                assert "/p/confirm/" in smtp.mail_to(kim)[0].get_content()

                people = api.get("/v1/contacts", params={"email": kim}).json()["items"]
                assert people[0]["first_name"] == "Kim"
                events = api.get(f"/v1/contacts/{people[0]['id']}/consent-events").json()
                [event] = events["items"] if isinstance(events, dict) else events
                assert event["source"] == f"form {made.json()['id']} v1 on {shop.origin}/landing"

                # The iframe snippet on a listed site: the hosted form inside.
                page.goto(framed.origin + "/")
                frame = page.frame_locator("iframe")
                frame.get_by_role("heading", name="Join our letter").wait_for()
                assert not frame.get_by_label("I agree, by e-mail").is_checked()

                # Both snippets on a site the form does not list: the script's
                # form shows but its submission is refused; the frame is blocked.
                page.goto(other.origin + "/")
                page.get_by_role("heading", name="Join our letter").first.wait_for()
                page.get_by_label("E-mail address (required)").first.fill(eve)
                page.get_by_label("I agree, by e-mail").first.check()
                page.get_by_role("button", name="Subscribe").first.click()
                page.get_by_text("Some of the information given is not valid.").wait_for()
                assert api.get("/v1/contacts", params={"email": eve}).json()["items"] == []
                assert page.frame_locator("iframe").get_by_role("heading").count() == 0
        finally:
            for site in (shop, framed, other):
                site.stop()
