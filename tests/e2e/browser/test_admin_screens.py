"""The admin's screens in Chromium (Debian's, driven by Playwright) against a real
`optinbase serve` process: read-only tables offer no writes, the two formerly
broken forms work (Extend deadline with a request picked from the list; segment
rules checked with the API's language), the suppression forms, the contact page,
the dashboard and the agency overview — whose screenshots are the README's
(docs/screenshots/, rewritten on the SQLite run when OPTINBASE_SCREENSHOTS=1, so an
ordinary test run leaves the tree clean)."""

from __future__ import annotations

import datetime as dt
import json
import re

import httpx
import pytest

from optinbase import db
from optinbase.settings import get_settings
from tests import processes
from tests.admin.staff import PASSWORD, make_agency, make_staff
from tests.e2e.browser.chromium import admin_page, running, screenshot
from tests.processes import Installation
from tests.factories import (
    grant,
    make_contact,
    make_notice,
    make_purpose,
    make_request,
    make_tenant,
    record,
    unique_slug,
)



@pytest.fixture(scope="module")
async def world(engine: str) -> dict:
    """Agency "Studio Nord" with two shops, a month of consent activity in the
    first (direct opt-ins, withdrawals, one bulk import), open requests; a
    shop outside the agency."""
    agency = await make_agency()
    shops = {}
    for name in ("Boulangerie Lune", "Librairie Soleil"):
        shops[name] = await make_tenant(slug=unique_slug("shop"), name=name, agency=agency)
    outsider = await make_tenant(slug=unique_slug("other"), name="Outsider")
    lune = shops["Boulangerie Lune"]
    await make_purpose(lune, name="Weekly newsletter")
    await make_notice(lune, channels=("email", "sms"), text="Yes, send me the weekly letter.")
    notice = await make_notice(lune, channels=("email", "sms"),
                               text="Yes, send me the weekly letter and the odd offer.")
    now = dt.datetime.now(dt.timezone.utc)
    people = []
    for i in range(24):
        contact = await make_contact(lune, email=f"{unique_slug('client')}@example.org",
                                     first_name=f"Client {i}",  # SMS consent needs a phone
                                     phone=f"+3378000{i:04d}")  # a range no other test uses
        people.append(contact)
        await grant(lune, contact["id"], notice["id"], method="web_form",
                    collected_at=(now - dt.timedelta(days=i % 20)).isoformat())
        if i % 3 == 0:
            await grant(lune, contact["id"], notice["id"], channel="sms")
        if i % 5 == 0:
            await record(lune, contact["id"], "withdraw")
    for _ in range(40):
        imported = await make_contact(lune)
        await grant(lune, imported["id"], notice["id"], method="import")
    star = await make_contact(lune, email=f"{unique_slug('marie')}@example.org",
                              first_name="Marie", last_name="Curie", phone="+33612345678")
    first = await make_notice(lune, channels=("email",), text="Letter, version three.")
    await grant(lune, star["id"], first["id"])
    await grant(lune, star["id"], notice["id"], channel="sms")
    await record(lune, star["id"], "withdraw", channel="sms")
    await make_request(lune, star["email"], kind="access", identity_verified=True)
    late = await make_request(lune, people[1]["email"], kind="erasure", identity_verified=True)
    async with db.tenant_transaction(lune.id):
        await db.execute("UPDATE data_subject_request SET due_at = {} WHERE tenant_id = {}"
                         " AND id = {}", now - dt.timedelta(days=3), lune.id, late["id"])
    waiting = []
    for i in range(6):  # double opt-ins; the dashboard test confirms four
        contact = await make_contact(lune, email=f"{unique_slug('doi')}@example.org")
        await grant(lune, contact["id"], notice["id"], method="web_form", double_opt_in=True)
        waiting.append(contact["email"])
    async with db.tenant_transaction(lune.id, write=False):
        mails = await db.fetch("SELECT recipient, payload FROM outbox_message"
                               " WHERE tenant_id = {}", lune.id)
    tokens = []
    for mail in mails:
        if mail["recipient"] in waiting[:4]:
            payload = mail["payload"]
            payload = json.loads(payload) if isinstance(payload, str) else payload
            tokens.append(re.search(r"/p/confirm/([A-Za-z0-9_-]+)", payload["text"]).group(1))
    theirs = await make_contact(outsider, email=f"{unique_slug('x')}@example.org")
    return {
        "agency_staff": await make_staff(agency=agency),
        "lune_staff": await make_staff(tenant=lune.slug),
        "lune": {"id": str(lune.id), "key": lune.key, "slug": lune.slug},
        "star": star, "outsider_contact": theirs, "outsider": {"id": str(outsider.id)},
        "lune_request_email": star["email"], "confirm_tokens": tokens,
    }


@pytest.fixture(scope="module")
def server(engine: str, tmp_path_factory):
    """The module's server, signing links with this process's key, so the
    double opt-in links written by the set-up can be followed."""
    installed = Installation.on(engine, tmp_path_factory.mktemp("server"),
                                SECRET_KEY=get_settings().secret_key)
    with installed.serving() as running:
        yield running


@pytest.fixture(scope="module")
def browser(server, world):
    with running() as chromium:
        yield chromium


WIDE = {"width": 1280, "height": 900}


def _page(browser, server, email, at: str, **context):
    """Logged in, at `at`: a panel screen (`_spa`'s fragment) or a path."""
    path = at if at.startswith("/") else f"/admin/#/{at}"
    return admin_page(browser, server.base_url, email, PASSWORD, path=path, **context)


def _spa(page, server, fragment: str) -> None:
    page.goto(f"{server.base_url}/admin/#/{fragment}")
    page.reload()
    page.wait_for_load_state("networkidle")


def _api(server, world) -> httpx.Client:
    return processes.http(base_url=server.base_url, timeout=10,
                        headers={"Authorization": f"Bearer {world['lune']['key']}"})


def test_read_only_tables_offer_no_writes(browser, server, world):
    page = _page(browser, server, world["lune_staff"], "consent_event")
    page.locator(".table_wrapper tbody tr").first.wait_for(timeout=15000)
    assert not page.locator('a[href$="/add/"]').first.is_visible()
    assert not page.locator(".table_wrapper tbody input[type=checkbox]").first.is_visible()
    contact_link = page.locator('.table_wrapper tbody a[href^="/admin/contacts/"]').first
    contact_link.wait_for(timeout=15000)  # the ledger's contact ids lead to the contact page
    assert contact_link.get_attribute("href").startswith(f"/admin/contacts/{world['lune']['id']}/")
    _spa(page, server, "contact")  # a writable table still offers them
    page.get_by_text("Marie").first.wait_for(timeout=15000)
    assert page.locator('a[href$="/add/"]').first.is_visible()
    event = _api(server, world).get(
        f"/v1/contacts/{world['star']['id']}/consent-events").json()["items"][0]
    _spa(page, server, f"consent_event/{event['id']}")
    page.get_by_role("heading", name="View Consent Event").wait_for(timeout=15000)
    assert not page.locator('[data-uitest="save_button"]').is_visible()
    assert page.locator("#app form input").first.is_disabled()
    page.context.close()


def test_extend_deadline_form_with_a_request_from_the_list(browser, server, world):
    api = _api(server, world)
    [request] = [r for r in api.get("/v1/requests", params={"status": "open"}).json()["items"]
                 if r["email"] == world["lune_request_email"]]
    page = _page(browser, server, world["lune_staff"], "forms/extend-deadline")
    picker = page.locator('select[name="request_id"]')
    picker.wait_for(timeout=15000)
    assert world["lune_request_email"] in picker.inner_text()
    assert world["outsider_contact"]["email"] not in page.content()
    picker.select_option(request["id"])
    page.locator('select[name="months"]').select_option("2")
    page.locator('input[name="reason"]').fill("Archives are off site.")
    with page.expect_response("**/admin/api/forms/extend-deadline/") as done:
        page.get_by_role("button", name="Submit").click()
    assert done.value.status == 200, done.value.text()
    page.get_by_text("extended by 2 month(s)").first.wait_for(timeout=15000)
    assert api.get(f"/v1/requests/{request['id']}").json()["extended_months"] == 2
    page.context.close()


def test_segment_rules_refused_in_the_table_view(browser, server, world):
    page = _page(browser, server, world["lune_staff"], "segment/add")
    page.locator('input[name="name"]').wait_for(timeout=15000)
    page.locator('input[name="name"]').fill("Broken")
    rules = page.locator('textarea[name="rules"]')
    rules.fill('{"type": "bogus"}')
    with page.expect_response("**/admin/api/tables/segment/") as answer:
        page.get_by_role("button", name="Create").click()
    assert answer.value.status == 422
    assert "type" in answer.value.text()
    segments = _api(server, world).get("/v1/segments").json()["items"]
    assert all(s["name"] != "Broken" for s in segments)
    page.context.close()


def test_suppression_forms(browser, server, world):
    page = _page(browser, server, world["lune_staff"], "forms/add-suppression")
    address = f"{unique_slug('stop')}@example.org"
    page.locator('input[name="email"]').wait_for(timeout=15000)
    page.locator('input[name="email"]').fill(address)
    page.locator('select[name="reason"]').select_option("complaint")
    assert page.locator('select[name="channel"]').input_value() == "all"
    page.get_by_role("button", name="Submit").click()
    page.get_by_text("Listed for all (complaint).").first.wait_for(timeout=15000)
    _spa(page, server, "suppression")
    page.get_by_text("complaint").first.wait_for(timeout=15000)
    assert address not in page.content()
    _spa(page, server, "forms/remove-suppression")
    page.locator('input[name="email"]').wait_for(timeout=15000)
    page.locator('input[name="email"]').fill(address)
    page.locator('input[name="reason"]').fill("Asked to hear from us again.")
    page.get_by_role("button", name="Submit").click()
    page.get_by_text("Removed from the suppression list").first.wait_for(timeout=15000)
    check = _api(server, world).get("/v1/suppressions/check", params={"email": address}).json()
    assert check["suppressed"] is False
    page.context.close()


def test_contact_page(browser, server, world, engine, tmp_path):
    page = _page(browser, server, world["lune_staff"], "/admin/contacts/", viewport=WIDE)
    page.get_by_label("E-mail, phone or external id").fill(world["star"]["email"].upper())
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name=world["star"]["email"]).click()
    page.locator("#verdicts").wait_for()
    contact_url = page.url
    rows = page.locator("#verdicts tbody tr")
    assert rows.count() == 2
    email = page.locator('#verdicts tr[data-channel="email"]').inner_text()
    sms = page.locator('#verdicts tr[data-channel="sms"]').inner_text()
    assert "Yes" in email and "No" in sms and "withdrawn" in sms
    history = page.locator("#history").inner_text()
    assert "v3 (en)" in history and "v2 (en)" in history
    assert "access" in page.locator("#requests").inner_text()
    screenshot(page, engine, "contact.png", tmp_path)
    _spa(page, server, f"contact/{world['star']['id']}")  # the edit page links back
    page.locator("#contact-page-link").click()
    page.locator("#verdicts").wait_for()
    assert page.url == contact_url
    outsider = world["outsider_contact"]
    page.goto(f"{server.base_url}/admin/contacts/{world['outsider']['id']}/{outsider['id']}/")
    assert outsider["email"] not in page.content()
    assert "No such contact" in page.content()
    page.context.close()


def test_dashboard_and_agency_overview(browser, server, world, engine, tmp_path):
    assert len(world["confirm_tokens"]) == 4
    for token in world["confirm_tokens"]:
        assert httpx.post(f"{server.base_url}/p/confirm/{token}").status_code == 200
    page = _page(browser, server, world["agency_staff"],
                 f"/admin/dashboard/?tenant={world['lune']['id']}", viewport=WIDE)
    rate = page.locator("#double-opt-in")
    assert (rate.get_attribute("data-requested"), rate.get_attribute("data-confirmed")) == (
        "6", "4")
    figure = page.locator('figure[data-channel="email"]')
    assert int(figure.get_attribute("data-imported")) == 40
    assert int(figure.get_attribute("data-opt-ins")) >= 24
    assert int(figure.get_attribute("data-withdrawals")) == 5
    assert page.locator("#overdue-requests").inner_text() == "1"
    screenshot(page, engine, "dashboard.png", tmp_path)
    page.goto(f"{server.base_url}/admin/agency/")
    table = page.locator("#agency-overview")
    assert table.locator("tbody tr").count() == 2
    lune = table.locator(f'tr[data-tenant="{world["lune"]["id"]}"]')
    assert lune.locator("td.overdue").inner_text() == "1"
    assert "Outsider" not in table.inner_text()
    screenshot(page, engine, "agency-overview.png", tmp_path)
    page.context.close()
