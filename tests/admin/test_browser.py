"""Chromium (Debian's, driven by Playwright) against a real `optinbase serve`
process on a SQLite file migrated by the CLI, staff created by the CLI."""

from __future__ import annotations

import subprocess

import httpx
import pytest

from tests.browser.chromium import launch, sync_api
from tests.e2e.test_server_process import COMMAND, server  # noqa: F401  (module fixture)

PASSWORD = "correct horse battery"


def staff(server, email: str, *membership: str) -> str:
    result = subprocess.run([*COMMAND, "staff", "create", email, *membership, "--password-stdin"],
                            input=PASSWORD + "\n", capture_output=True, text=True, timeout=60,
                            cwd=server.workdir, env=server.env)
    assert result.returncode == 0, result.stderr
    return email


@pytest.fixture(scope="module")
def world(server):
    server.cli("agencies", "create", "brw-agency", "--name", "Browser Agency")
    out = {}
    for slug, agency in (("brw-a", True), ("brw-a2", True), ("brw-b", False)):
        server.cli("tenants", "create", slug, "--name", slug.upper(),
                   *(["--agency", "brw-agency"] if agency else []))
        key = server.cli("keys", "create", "--tenant", slug).strip().splitlines()[-1]
        response = httpx.post(f"{server.base_url}/v1/contacts", json={"email": f"someone@{slug}.example"},
                              headers={"Authorization": f"Bearer {key}"}, timeout=10)
        assert response.status_code == 201, response.text
        out[slug] = {"key": key, "contact": response.json()["id"]}
    out["tenant_staff"] = staff(server, "anne@brw-a.example", "--tenant", "brw-a")
    out["agency_staff"] = staff(server, "gil@brw-agency.example", "--agency", "brw-agency")
    return out


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


def logged_in(browser, server, email: str):
    page = browser.new_context().new_page()
    page.goto(f"{server.base_url}/admin/")
    page.fill('input[name="username"]', email)
    page.fill('input[type="password"]', PASSWORD)
    with page.expect_response("**/admin/public/login/") as login:
        page.press('input[type="password"]', "Enter")
    assert login.value.status == 200
    page.wait_for_load_state("networkidle")
    return page


def test_tenant_staff_see_only_their_contacts_and_edit_one(browser, server, world):
    page = logged_in(browser, server, world["tenant_staff"])
    page.goto(f"{server.base_url}/admin/#/contact")
    page.reload()
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
    page = logged_in(browser, server, world["agency_staff"])
    page.goto(f"{server.base_url}/admin/dashboard/")
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
