"""Debian's Chromium driven by Playwright, for every browser test. Imported at
the top of a test module: without /usr/bin/chromium the module is skipped — or
fails under CI=true, where browser tests must run."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest

from tests import processes

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[3] / "docs" / "screenshots"
if not Path(CHROMIUM).exists():
    if os.environ.get("CI", "").lower() == "true":
        raise RuntimeError(f"CI=true but {CHROMIUM} is missing: browser tests must run")
    pytest.skip(f"browser tests need {CHROMIUM} (apt-get install -y chromium)",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def launch(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)


@contextlib.contextmanager
def running():
    """Chromium for a module's tests. Start it after the async fixtures: a
    running Playwright holds an event loop in this thread, where
    pytest-asyncio can no longer run one."""
    with sync_api.sync_playwright() as playwright:
        chromium = launch(playwright)
        try:
            yield chromium
        finally:
            chromium.close()


def screenshot(page, engine: str, name: str, tmp_path: Path, *, full_page: bool = True) -> Path:
    """The page photographed as `name`: into docs/screenshots/ (the README's
    pictures) on the SQLite run when OPTINBASE_SCREENSHOTS=1, else into the
    test's temporary directory (a run does not rewrite a committed file)."""
    wanted = engine == "sqlite" and os.environ.get("OPTINBASE_SCREENSHOTS") == "1"
    path = (SCREENSHOTS if wanted else tmp_path) / name
    page.screenshot(path=str(path), full_page=full_page)
    return path


def admin_page(browser, base_url: str, email: str, password: str, *, path: str = "/admin/",
               form: bool = False, **context):
    """A new page logged into the admin panel, opened at `path` (where the
    test goes first: a panel screen, `/admin/#/contact`, loads the panel
    once, not once for /admin/ and again for the screen); `context`:
    Playwright's context options (`locale="fr-FR"`: the browser's
    language). The session comes from
    the real login endpoint, posted over HTTP as the panel's form posts it, and
    its cookies go into the browser: the panel then loads once, not twice
    (Chromium's CPU is most of a browser test's). `form=True` logs in through
    the panel's own login form instead (tests/e2e/browser/test_admin_panel.py)."""
    browser_context = browser.new_context(**context)
    page = browser_context.new_page()
    if form:
        page.goto(f"{base_url}/admin/")
        page.fill('input[name="username"]', email)
        page.fill('input[type="password"]', password)
        with page.expect_response("**/admin/public/login/") as login:
            page.press('input[type="password"]', "Enter")
        assert login.value.status == 200
        if path != "/admin/":
            # The panel goes on loading once logged in: let it settle first, or
            # its own navigation may land after ours.
            page.wait_for_load_state("networkidle")
            page.goto(f"{base_url}{path}")
            if path.startswith("/admin/#"):  # a hash change alone keeps the document
                page.reload()
    else:
        with processes.http(base_url, timeout=15) as http:
            assert http.get("/admin/").status_code == 200  # sets the CSRF cookie
            login = http.post("/admin/public/login/", json={"username": email, "password": password},
                              headers={"X-CSRFToken": http.cookies["csrftoken"]})
            assert login.status_code == 200, login.text
            browser_context.add_cookies([{"name": cookie.name, "value": cookie.value, "url": base_url}
                                         for cookie in http.cookies.jar])
        page.goto(f"{base_url}{path}")
    page.wait_for_load_state("networkidle")
    return page
