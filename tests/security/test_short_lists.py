"""Purposes, notices and webhooks are no longer unbounded (issue 13 §5): a
bare list as API.md promises (at most 1000, `Link` to the rest), or with
`limit`/`cursor` the `{items, next_cursor}` page of every other list."""

from __future__ import annotations

import pytest

from api import listing
from tests.factories import make_notice, make_purpose, make_tenant


async def _walk(client, tenant, path: str, **params) -> list[dict]:
    seen, cursor = [], None
    while True:
        query = {**params, "limit": 2, **({"cursor": cursor} if cursor else {})}
        answer = await client.get(path, params=query, headers=tenant.headers)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert set(body) == {"items", "next_cursor"} and len(body["items"]) <= 2
        seen.extend(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return seen


async def test_purposes_and_notices_page_through_everything(client):
    tenant = await make_tenant()
    for key in ("e", "a", "d", "b", "c"):
        await make_purpose(tenant, key)
        await make_notice(tenant, key, ("email",), text=f"{key} one")
        await make_notice(tenant, key, ("email",), text=f"{key} two")
    bare = (await client.get("/v1/purposes", headers=tenant.headers)).json()
    assert isinstance(bare, list) and [p["key"] for p in bare] == list("abcde")
    assert await _walk(client, tenant, "/v1/purposes") == bare
    notices = (await client.get("/v1/notices", headers=tenant.headers)).json()
    assert len(notices) == 10
    assert await _walk(client, tenant, "/v1/notices") == notices
    assert [n["version"] for n in await _walk(client, tenant, "/v1/notices", purpose="c")] == [
        1, 2]


async def test_webhooks_page(client):
    tenant = await make_tenant()
    for i in range(5):
        made = await client.post("/v1/webhooks", headers=tenant.headers, json={
            "url": f"https://hooks{i}.example.com/in", "events": ["consent.changed"]})
        assert made.status_code == 201, made.text
    bare = (await client.get("/v1/webhooks", headers=tenant.headers)).json()
    assert len(bare) == 5
    assert await _walk(client, tenant, "/v1/webhooks") == bare


async def test_bare_list_is_bounded_with_a_link_to_the_rest(client, monkeypatch):
    monkeypatch.setattr(listing, "BARE_LIMIT", 2)
    monkeypatch.setattr("api.controllers.purposes.BARE_LIMIT", 2)
    tenant = await make_tenant()
    for key in ("a", "b", "c"):
        await make_purpose(tenant, key)
    first = await client.get("/v1/purposes", headers=tenant.headers)
    assert [p["key"] for p in first.json()] == ["a", "b"]
    link = first.headers["link"]
    assert link.endswith('>; rel="next"')
    rest = await client.get(link[1:link.index(">")], headers=tenant.headers)
    assert [p["key"] for p in rest.json()["items"]] == ["c"]


@pytest.mark.parametrize("cursor", ["garbage", "dTpub3QtYS10ZXh0", "dDp4AHk"])
async def test_forged_cursors_are_422(client, cursor):
    tenant = await make_tenant()
    for path in ("/v1/purposes", "/v1/notices", "/v1/webhooks"):
        answer = await client.get(path, params={"cursor": cursor}, headers=tenant.headers)
        assert answer.status_code == 422, (path, answer.text)
