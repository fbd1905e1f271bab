"""Debian's Chromium driven by Playwright, for every browser test. Imported at
the top of a test module: without /usr/bin/chromium the module is skipped — or
fails under CI=true, where browser tests must run.

One Chromium per test process, launched at its first use and kept until the
process ends (`running()` lends it to a module or a test and closes the
contexts opened meanwhile): a Playwright driver and a Chromium launched for
each module and test cost ~1 s of CPU each time, ~30 times a run."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
from pathlib import Path
from typing import Iterator

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


class _Shared:
    manager = None  # the sync_playwright() context manager, once started
    playwright = None
    browser = None


def _coroutines_beside_playwright() -> None:
    """Playwright's sync API keeps its event loop marked as this thread's
    running loop between calls (its dispatcher greenlet is suspended inside
    it), and asyncio refuses to run another loop while one is marked: an
    async fixture or test (pytest-asyncio runs them, and closes its loop,
    through asyncio.Runner) could not run once Chromium was up. While a
    Runner works, the mark is lifted, and put back after."""

    def beside_playwright(method):
        def call(*args, **kwargs):
            marked = asyncio._get_running_loop()
            if _Shared.manager is None or marked is not _Shared.manager._loop:
                return method(*args, **kwargs)
            asyncio._set_running_loop(None)
            try:
                return method(*args, **kwargs)
            finally:
                asyncio._set_running_loop(marked)
        return call

    asyncio.Runner.run = beside_playwright(asyncio.Runner.run)
    asyncio.Runner.close = beside_playwright(asyncio.Runner.close)


_coroutines_beside_playwright()


def _stop() -> None:
    """At the test process's exit: Chromium and the Playwright driver."""
    if _Shared.manager is not None:
        _Shared.manager.__exit__()


@contextlib.contextmanager
def running() -> Iterator:
    """This process's Chromium for a module or a test (launched again if it
    crashed); the browser contexts opened meanwhile are closed at the end."""
    if _Shared.manager is None:
        _Shared.manager = sync_api.sync_playwright()
        _Shared.playwright = _Shared.manager.start()
        atexit.register(_stop)
    if _Shared.browser is None or not _Shared.browser.is_connected():
        _Shared.browser = _Shared.playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    chromium = _Shared.browser
    before = set(chromium.contexts)
    try:
        yield chromium
    finally:
        for context in chromium.contexts:
            if context not in before:
                context.close()


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
