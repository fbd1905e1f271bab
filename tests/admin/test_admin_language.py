"""The admin's own texts speak the staff member's language, chosen the way
Piccolo Admin chooses its own (issue 15 §2): the language picked in its
selector (mirrored into a cookie by admin.ui), else the browser's, else
English — on our pages (dashboard, contacts, agency overview) and inside the
SPA (custom forms' names, descriptions, labels and help; menu and form groups;
sidebar links). The browser side is tests/e2e/browser/test_admin_language.py."""

from __future__ import annotations

import pytest

from admin import wording
from admin.app import build_admin
from admin.look import LANGUAGE_COOKIE, staff_language
from optinbase.i18n import texts
from tests.admin.staff import login, make_staff
from tests.factories import make_tenant


def test_the_selectors_choice_comes_first_then_the_browser_then_english():
    assert staff_language("fr", "en-US,en;q=0.9") == "fr"
    assert staff_language(None, "fr-FR,fr;q=0.9,en;q=0.5") == "fr"
    assert staff_language("de", "de-DE,en;q=0.5") == "en"  # only our two languages
    assert staff_language("<script>", None) == "en"
    assert staff_language(None, None) == "en"


def test_every_form_field_group_and_link_has_words_in_both_languages():
    """A form, a field, a group or a sidebar link added without its words here fails."""
    admin = build_admin(production=False).app
    for config in admin.forms:
        assert config.slug in wording.FORMS, config.slug
        for field in config.pydantic_model.model_fields:
            assert field in wording.LABELS, (config.slug, field)
        if config.form_group:
            assert config.form_group in wording.GROUPS, config.form_group
    for table in admin.table_configs:
        if table.menu_group:
            assert table.menu_group in wording.GROUPS, table.menu_group
    for url in admin.sidebar_links.values():
        assert url in wording.LINKS, url
    for language in ("fr", "en"):
        t = texts(language)
        names = {t(name) for name, _ in wording.FORMS.values()}
        assert len(names) == len(wording.FORMS), f"two forms share a name in {language}"
    assert texts("fr")("admin.forms.extend") != texts("en")("admin.forms.extend")


@pytest.mark.parametrize("cookie, accept, language", [
    ("fr", "en-US", "fr"),      # picked in the selector, whatever the browser says
    (None, "fr-FR,fr", "fr"),   # nothing picked: the browser's
    ("en", "fr-FR,fr", "en"),
    (None, None, "en"),
])
async def test_the_spa_menus_and_forms_follow_the_choice(client, cookie, accept, language):
    tenant = await make_tenant()
    admin = await login(client, await make_staff(tenant=tenant.slug))
    t = texts(language)
    try:
        if cookie:
            admin.http.cookies.set(LANGUAGE_COOKIE, cookie, path="/admin")
        if accept:
            admin.http.headers["Accept-Language"] = accept
        forms = (await admin.get("/forms/")).json()
        extend = next(f for f in forms if f["slug"] == "extend-deadline")  # the URL stays
        assert extend["name"] == t("admin.forms.extend")
        assert extend["description"] == t("admin.forms.extend.about")
        grouped = (await admin.get("/forms/grouped/")).json()["grouped"]
        assert t("admin.group.requests") in grouped
        schema = (await admin.get("/forms/extend-deadline/schema/")).json()
        reason = schema["properties"]["reason"]
        assert reason["title"] == t("admin.field.reason")
        assert reason["extra"]["help_text"] == t("admin.help.extend_reason")
        tables = (await admin.get("/tables/grouped/")).json()["grouped"]
        assert t("admin.group.contacts") in tables
        links = (await admin.get("/links/")).json()
        assert links[t("admin.nav.dashboard")] == "/admin/dashboard/"
        dashboard = await admin.http.get("/admin/dashboard/")
        assert f'<html lang="{language}">' in dashboard.text
        assert t("admin.nav.dashboard") in dashboard.text
    finally:
        await admin.aclose()
