"""The API documentation works offline: Swagger UI renders from what the
server itself serves, and the browser asks nothing of any other host."""

from __future__ import annotations

from urllib.parse import urlparse

from tests.e2e.browser.chromium import launch, sync_api


def test_the_docs_render_with_no_request_leaving_the_server(server):
    asked: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_context().new_page()
            page.on("request", lambda request: asked.append(request.url))
            page.goto(f"{server.base_url}/schema")
            title = page.locator(".swagger-ui .info .title")
            title.wait_for(timeout=20_000)
            assert "Optinbase API" in title.inner_text()
            page.locator(".opblock-tag", has_text="ledger").first.wait_for()
        finally:
            browser.close()
    here = urlparse(server.base_url).netloc
    assert asked and all(urlparse(url).netloc == here for url in asked
                         if not url.startswith("data:")), asked
