"""The admin's lists in Chromium (Debian's, driven by Playwright) against a real
`optinbase serve`: the ledger names the contact by e-mail (a link to the
contact's page), the purpose and the notice; an erased contact reads as such,
not NULL; the requests' trail names the request; newest first; another
tenant's names never appear (admin.references)."""

from __future__ import annotations

import uuid

import pytest

from consent import erasure
from optinbase import db
from tests.admin.staff import PASSWORD, make_staff
from tests.e2e.browser.chromium import admin_page, running, screenshot, sync_api
from tests.factories import (
    context,
    grant,
    make_contact,
    make_notice,
    make_purpose,
    make_request,
    make_tenant,
    record,
    unique_slug,
)
from tests.processes import Installation

expect = sync_api.expect


@pytest.fixture(scope="module")
async def world(engine: str) -> dict:
    shop = await make_tenant(slug=unique_slug("shop"), name="Boulangerie Lune")
    other = await make_tenant(slug=unique_slug("other"), name="Outsider")
    for tenant in (shop, other):
        await make_purpose(tenant, name="Weekly newsletter")
    await make_notice(shop, channels=("email",), text="Version one.")
    notice = await make_notice(shop, channels=("email",), text="Version two.")
    gone = await make_contact(shop, email=f"{unique_slug('gone')}@example.org")
    await grant(shop, gone["id"], notice["id"])
    async with db.tenant_transaction(shop.id):
        await erasure.erase_contact(context(shop), uuid.UUID(gone["id"]))
    ada = await make_contact(shop, email=f"{unique_slug('ada')}@example.org")
    await grant(shop, ada["id"], notice["id"])
    await record(shop, ada["id"], "withdraw")
    request = await make_request(shop, ada["email"], kind="access")
    theirs = await make_contact(other, email=f"{unique_slug('x')}@example.org")
    await make_request(other, theirs["email"], kind="erasure")
    return {"staff": await make_staff(tenant=shop.slug), "shop": str(shop.id), "ada": ada,
            "gone": gone, "request": request, "theirs": theirs}


@pytest.fixture(scope="module")
def server(engine: str, tmp_path_factory):
    with Installation.on(engine, tmp_path_factory.mktemp("server")).serving() as running_server:
        yield running_server


@pytest.fixture(scope="module")
def browser(server, world):
    with running() as chromium:
        yield chromium


def _list(browser, server, world, table: str):
    page = admin_page(browser, server.base_url, world["staff"], PASSWORD, path=f"/admin/#/{table}")
    page.locator(".table_wrapper tbody tr").first.wait_for(timeout=15000)
    page.wait_for_load_state("networkidle")
    return page


def _column(page, title: str) -> list[str]:
    heads = [h.strip() for h in page.locator(".table_wrapper thead th").all_text_contents()]
    assert title in heads, heads
    index = heads.index(title)
    return [row.locator("td").nth(index).inner_text().strip()
            for row in page.locator(".table_wrapper tbody tr").all()]


def test_the_ledger_names_contacts_purposes_and_notices(browser, server, world, engine, tmp_path):
    page = _list(browser, server, world, "consent_event")
    page.set_viewport_size({"width": 1280, "height": 600})
    # The README's picture (rewritten on the SQLite run with OPTINBASE_SCREENSHOTS=1).
    screenshot(page, engine, "ledger.png", tmp_path, full_page=False)
    ada = world["ada"]
    contacts = _column(page, "Contact")
    # Newest first: Ada's withdrawal, her grant, then the erased contact's grant.
    assert contacts == [ada["email"], ada["email"], "erased contact"]
    assert _column(page, "Purpose") == ["Weekly newsletter (newsletter)"] * 3
    assert _column(page, "Notice") == ["", "newsletter v2 (en)", "newsletter v2 (en)"]
    text = page.locator(".table_wrapper").inner_text()
    assert ada["id"] not in text and "NULL" not in text
    assert world["gone"]["email"] not in page.content()
    assert world["theirs"]["email"] not in page.content()
    seqs = [int(s) for s in _column(page, "Seq")]
    assert seqs == sorted(seqs, reverse=True)
    # The filters find a contact by e-mail (the SPA's foreign-key search, scoped).
    page.get_by_text("Show filters").first.click()
    page.locator('.key_search input[type="text"]').first.click()
    search = page.locator('input[placeholder="Type here to filter"]:visible')
    search.fill(ada["email"][:8])
    choice = page.locator(".results_list:visible a", has_text=ada["email"])
    choice.wait_for(timeout=15000)
    assert page.locator(".results_list:visible a", has_text="@").count() == 1  # only hers, none of B's
    choice.click()
    page.get_by_role("button", name="Apply").click()
    page.wait_for_load_state("networkidle")
    expect(page.locator(".table_wrapper tbody tr")).to_have_count(2, timeout=15000)
    assert _column(page, "Contact") == [ada["email"], ada["email"]]
    link = page.get_by_role("link", name=ada["email"]).first
    assert link.get_attribute("href") == f"/admin/contacts/{world['shop']}/{ada['id']}/"
    link.click()  # the contact's own page, outside the SPA
    page.locator("#verdicts").wait_for(timeout=15000)
    assert page.url.endswith(f"/admin/contacts/{world['shop']}/{ada['id']}/")
    page.context.close()


def test_states_and_the_request_trail_read_as_names(browser, server, world):
    page = _list(browser, server, world, "consent_state")
    assert _column(page, "Contact") == [world["ada"]["email"]]
    assert _column(page, "Purpose") == ["Weekly newsletter (newsletter)"]
    page.goto(f"{server.base_url}/admin/#/request_event")
    page.reload()
    page.locator(".table_wrapper tbody tr").first.wait_for(timeout=15000)
    page.wait_for_load_state("networkidle")
    requests = _column(page, "Request")
    assert requests and all(r.startswith("access, received ") for r in requests)
    assert world["request"]["id"] not in page.locator(".table_wrapper").inner_text()
    page.get_by_role("link", name=requests[0]).first.click()  # the request's own row
    page.wait_for_url(f"**/#/data_subject_request/{world['request']['id']}**", timeout=15000)
    page.context.close()
