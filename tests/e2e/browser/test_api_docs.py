"""The API documentation works offline: Swagger UI renders from what the
server itself serves, and the browser asks nothing of any other host."""

from __future__ import annotations

from urllib.parse import urlparse

import pytest

from tests.e2e.browser.chromium import running


# On SQLite only: the page and /schema/openapi.json read no table, and Swagger UI
# takes ~5 s of Chromium's CPU to lay out the 500 kB document.
@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_the_docs_render_with_no_request_leaving_the_server(server):
    asked: list[str] = []
    with running() as browser:
        page = browser.new_context().new_page()
        page.on("request", lambda request: asked.append(request.url))
        page.goto(f"{server.base_url}/schema")
        title = page.locator(".swagger-ui .info .title")
        title.wait_for(timeout=20_000)
        assert "Optinbase API" in title.inner_text()
        page.locator(".opblock-tag", has_text="ledger").first.wait_for()
    here = urlparse(server.base_url).netloc
    assert asked and all(urlparse(url).netloc == here for url in asked
                         if not url.startswith("data:")), asked
