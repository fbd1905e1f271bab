"""Chromium (Debian's, driven by Playwright) against a real `optinbase serve`
process; tenants, contacts and staff written beside it (tests/factories.py)."""

from __future__ import annotations

import httpx
import pytest

from tests.admin.staff import PASSWORD, make_agency, make_staff
from tests.e2e.browser.chromium import admin_page, running
from tests.factories import make_contact, make_tenant


@pytest.fixture(scope="module")
async def world(engine: str) -> dict:
    """An agency with tenants BRW-A and BRW-A2, and BRW-B outside it, a contact in
    each, staff of BRW-A and of the agency."""
    agency = await make_agency()
    out = {}
    for name, in_agency in (("brw-a", True), ("brw-a2", True), ("brw-b", False)):
        tenant = await make_tenant(name=name.upper(), agency=agency if in_agency else None)
        contact = await make_contact(tenant, email=f"someone@{name}.example")
        out[name] = {"key": tenant.key, "contact": contact["id"], "slug": tenant.slug}
    out["tenant_staff"] = await make_staff(tenant=out["brw-a"]["slug"])
    out["agency_staff"] = await make_staff(agency=agency)
    return out


@pytest.fixture(scope="module")
def browser(server, world):
    with running() as chromium:
        yield chromium


def logged_in(browser, server, email: str, path: str = "/admin/", form: bool = False):
    return admin_page(browser, server.base_url, email, PASSWORD, path=path, form=form)


def test_tenant_staff_see_only_their_contacts_and_edit_one(browser, server, world):
    page = logged_in(browser, server, world["tenant_staff"], "/admin/#/contact",
                     form=True)  # the login form too
    page.get_by_text("someone@brw-a.example").first.wait_for(timeout=15000)
    body = page.content()
    assert "someone@brw-b.example" not in body and "someone@brw-a2.example" not in body
    page.goto(f"{server.base_url}/admin/#/contact/{world['brw-a']['contact']}")
    field = page.locator('input[name="first_name"]')
    field.wait_for(timeout=15000)
    field.fill("Anne")
    page.get_by_role("button", name="Save").first.click()
    page.wait_for_timeout(1000)
    contact = httpx.get(f"{server.base_url}/v1/contacts/{world['brw-a']['contact']}",
                        headers={"Authorization": f"Bearer {world['brw-a']['key']}"}).json()
    assert contact["first_name"] == "Anne"
    page.context.close()


def test_agency_staff_switch_between_two_tenants_on_the_dashboard(browser, server, world):
    page = logged_in(browser, server, world["agency_staff"], "/admin/dashboard/")
    assert page.locator("h1").inner_text().startswith("Dashboard")
    names = set()
    for slug in ("BRW-A", "BRW-A2"):
        page.get_by_role("link", name=slug, exact=True).click()
        page.wait_for_load_state()
        names.add(page.locator("#tenant-name").inner_text())
        assert page.locator("#open-requests").inner_text() == "0"
    assert names == {"BRW-A", "BRW-A2"}
    assert "BRW-B" not in page.content()
    page.goto(f"{server.base_url}/admin/#/contact")
    page.get_by_text("someone@brw-a2.example").first.wait_for(timeout=15000)
    assert "someone@brw-b.example" not in page.content()
    page.context.close()
