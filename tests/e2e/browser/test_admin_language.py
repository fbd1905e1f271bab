"""The admin in the staff member's language, in Chromium against a real
`optinbase serve` (issue 15 §2): a French browser gets the dashboard and a
custom form in French, an English one in English, and picking French in
Piccolo Admin's own language selector turns our texts French too — the one
choice Piccolo Admin makes, followed by the admin's own pages and forms."""

from __future__ import annotations

import pytest

from optinbase.i18n import texts
from tests.admin.staff import PASSWORD, make_staff
from tests.e2e.browser.chromium import admin_page, running
from tests.factories import make_tenant

FR, EN = texts("fr"), texts("en")


@pytest.fixture(scope="module")
async def staff(engine: str) -> str:
    tenant = await make_tenant(name="Lune")
    return await make_staff(tenant=tenant.slug)


@pytest.fixture(scope="module")
def browser(server, staff):
    with running() as chromium:
        yield chromium


def _dashboard_title(page, base_url: str) -> str:
    if page.url != f"{base_url}/admin/dashboard/":
        page.goto(f"{base_url}/admin/dashboard/")
    return page.locator("h1").inner_text()


def _form(page, base_url: str, slug: str) -> None:
    page.goto(f"{base_url}/admin/#/forms/{slug}")
    page.reload()
    page.locator('[data-uitest="submit_custom_form_button"]').wait_for(timeout=15000)


@pytest.mark.parametrize("locale, t", [("fr-FR", FR), ("en-US", EN)])
def test_the_browsers_language_on_the_dashboard_and_a_custom_form(browser, server, staff,
                                                                  locale, t):
    page = admin_page(browser, server.base_url, staff, PASSWORD, locale=locale,
                      path="/admin/dashboard/")
    try:
        assert _dashboard_title(page, server.base_url).startswith(t("admin.nav.dashboard"))
        assert page.locator("html").get_attribute("lang") == t.language
        _form(page, server.base_url, "extend-deadline")
        page.get_by_text(t("admin.forms.extend"), exact=True).first.wait_for(timeout=15000)
        page.get_by_text(t("admin.forms.extend.about")).first.wait_for(timeout=15000)
        labels = page.locator("form label").all_inner_texts()
        assert any(label.strip().startswith(t("admin.field.reason")) for label in labels), labels
        other = EN if t is FR else FR
        assert other("admin.forms.extend") not in page.content()
    finally:
        page.context.close()


def test_picking_french_in_piccolos_selector_turns_our_texts_french(browser, server, staff):
    page = admin_page(browser, server.base_url, staff, PASSWORD, locale="en-US",
                      path="/admin/#/forms/extend-deadline")
    try:
        page.locator('[data-uitest="submit_custom_form_button"]').wait_for(timeout=15000)
        page.get_by_text(EN("admin.forms.extend"), exact=True).first.wait_for(timeout=15000)
        page.locator('a[title="Translations"]').click()
        with page.expect_navigation():  # admin.ui reloads what was fetched in English
            page.get_by_text("(fr)").click()
        page.get_by_text(FR("admin.forms.extend"), exact=True).first.wait_for(timeout=15000)
        assert _dashboard_title(page, server.base_url).startswith(FR("admin.nav.dashboard"))
        _form(page, server.base_url, "extend-deadline")  # and it stays chosen
        page.get_by_text(FR("admin.field.reason")).first.wait_for(timeout=15000)
    finally:
        page.context.close()
