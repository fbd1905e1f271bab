"""The admin's form builder in Chromium against a real server process: staff
log in, change a label, add a field and a purpose and see the preview change
without anything saved, save, and the new version is live at the embed URL;
a script in a label stays text in the preview; a hopeless definition is
refused with a message saying what is wrong; another tenant's form is 404."""

from __future__ import annotations

import httpx
import pytest

from tests import processes
from tests.admin.staff import PASSWORD, make_staff
from tests.e2e.browser.chromium import admin_page, running, sync_api
from tests.factories import make_notice, make_purpose, make_tenant, unique_slug

LETTER = "Acme's monthly letter, by e-mail."
OFFERS = "Offers from Acme's partners, by e-mail."


@pytest.fixture(scope="module")
async def world(engine: str) -> dict:
    acme = await make_tenant(slug=unique_slug("acme"), name="Acme SAS")
    await make_purpose(acme, "letter", name="Monthly letter")
    await make_notice(acme, "letter", ("email",), text=LETTER)
    await make_purpose(acme, "offers", name="Partner offers")
    await make_notice(acme, "offers", ("email",), text=OFFERS)
    other = await make_tenant(slug=unique_slug("other"), name="Other SARL")
    await make_purpose(other, "news", name="News")
    await make_notice(other, "news", ("email",), text="News by e-mail.")
    return {"acme": acme, "other": other, "staff": await make_staff(tenant=acme.slug)}


@pytest.fixture(scope="module")
def browser(server, world):
    with running() as chromium:
        yield chromium


def test_build_preview_save_and_embed(browser, server, world):
    acme, other = world["acme"], world["other"]
    api = processes.http(base_url=server.base_url, timeout=10, headers=acme.headers)
    page = admin_page(browser, server.base_url, world["staff"], PASSWORD,
                      path="/admin/form-builder/")
    refused, dialogs = [], []  # the page's policy refusals; any alert() that ran
    page.on("console", lambda m: refused.append(m.text)
            if "Content Security Policy" in m.text or "Refused to" in m.text else None)
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(f"{server.base_url}/admin/form-builder/")
    page.get_by_role("link", name="New form for Acme SAS").click()
    preview = page.frame_locator("#preview")
    preview.get_by_text(LETTER).wait_for()
    page.get_by_label("Name", exact=True).fill("Shop footer")
    page.get_by_label("Title", exact=True).fill("Join our letter")
    preview.get_by_role("heading", name="Join our letter").wait_for()

    # A label, a new field, a second purpose: each shows in the preview.
    page.get_by_role("textbox", name="Label").first.fill("Your e-mail")
    preview.get_by_text("Your e-mail").wait_for()
    page.get_by_role("button", name="Add a field").click()
    page.get_by_role("textbox", name="Field", exact=True).last.fill("first_name")
    preview.get_by_label("First name").wait_for()
    page.get_by_label("Partner offers (offers)").check()
    preview.get_by_text(OFFERS).wait_for()
    boxes = preview.locator('input[name="consent"]')
    assert boxes.count() == 2 and not any(
        boxes.nth(i).is_checked() for i in range(2))  # never pre-checked
    assert api.get("/v1/forms").json() == []  # nothing saved yet

    # A script in a label is text in the preview, and runs nowhere.
    page.get_by_role("textbox", name="Label").last.fill("<script>alert(1)</script>Name")
    preview.get_by_text("<script>alert(1)</script>Name").wait_for()
    page.get_by_role("textbox", name="Label").last.fill("First name")
    preview.get_by_label("First name").wait_for()
    assert dialogs == []

    # A hopeless field: refused with the reason, the last good preview stays.
    page.get_by_role("textbox", name="Field", exact=True).last.fill("first name!")
    error = page.locator("#preview-error")
    error.filter(has_text="fields[1].name").wait_for()
    assert "cannot be used as it is" in error.inner_text()
    assert preview.get_by_label("First name").count() == 1  # the last good preview stays
    page.get_by_label("Introduction").fill("x" * 70_000)
    error.filter(has_text="too large").wait_for()
    page.get_by_label("Introduction").fill("")
    page.get_by_role("textbox", name="Field", exact=True).last.fill("first_name")
    sync_api.expect(error).to_be_empty()

    page.get_by_role("button", name="Save as a new version").click()
    page.get_by_text("Version 1 saved").first.wait_for()
    script = page.locator("#embed-script").input_value()
    iframe = page.locator("#embed-iframe").input_value()
    url = page.locator("#embed-url").get_attribute("href")
    [form] = api.get("/v1/forms").json()
    assert form["id"] in script and "embed.js" in script and form["id"] in iframe
    assert url == form["embed"]["url"] and form["version"] == 1
    assert f"/admin/form-builder/{acme.id}/{form['id']}/" in page.url

    # A second version: live at the embed URL once saved, not before.
    page.get_by_label("Title", exact=True).fill("Join our letter today")
    preview.get_by_role("heading", name="Join our letter today").wait_for()
    hosted = url  # the server's PUBLIC_URL is its own address
    assert hosted.startswith(server.base_url)
    assert "Join our letter today" not in httpx.get(hosted).text
    page.get_by_role("button", name="Save as a new version").click()
    page.get_by_text("Version 2 saved").first.wait_for()
    live = browser.new_context().new_page()
    live.goto(hosted)
    live.get_by_role("heading", name="Join our letter today").wait_for()
    assert live.get_by_label("Your e-mail").count() == 1
    assert not live.get_by_label("I agree, by e-mail").first.is_checked()
    live.context.close()

    # Another tenant's form is absent here.
    theirs = httpx.post(f"{server.base_url}/v1/forms", headers=other.headers, json={
        "name": "Theirs", "purposes": ["news"], "channels": ["email"]})
    assert theirs.status_code == 201, theirs.text
    for path in (f"{acme.id}/{theirs.json()['id']}/", f"{other.id}/{theirs.json()['id']}/",
                 f"{other.id}/new/"):
        answer = page.goto(f"{server.base_url}/admin/form-builder/{path}")
        assert answer.status == 404 and "Form not found" in page.content()
    assert refused == [] and dialogs == []
    page.context.close()
