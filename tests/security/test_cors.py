"""CORS is decided explicitly (issue 13 §3): off by default, an allowlist when
`CORS_ORIGINS` is set. A preflight never answers 500 nor asks for a key."""

from __future__ import annotations

import dataclasses
import os

import httpx
import pytest

from optinbase.settings import ConfigError, get_settings, load_settings
from tests import apps
from tests.factories import make_tenant, make_world

PREFLIGHT = {"Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "authorization, content-type, idempotency-key"}
ALLOWED = "https://app.example.com"


@pytest.fixture(scope="module")
def cors_app():
    from api.app import create_app

    return create_app(dataclasses.replace(get_settings(), cors_origins=(ALLOWED,)))


async def _client(app) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=apps.reset(app), raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def test_without_cors_origins_no_origin_is_allowed(client):
    world = await make_world(await make_tenant())
    for path in ("/v1/contacts", f"/v1/contacts/{world.contact['id']}", "/v1/consent-check"):
        answer = await client.options(path, headers={"Origin": ALLOWED, **PREFLIGHT})
        assert answer.status_code == 204, (path, answer.status_code, answer.text)
        assert "OPTIONS" in answer.headers["allow"] and answer.content == b""
        assert "access-control-allow-origin" not in answer.headers
    # an actual call from a page of another origin: answered, but no browser may read it
    answer = await client.get("/v1/tenant", headers={"Origin": ALLOWED, **world.tenant.headers})
    assert answer.status_code == 200
    assert "access-control-allow-origin" not in answer.headers


async def test_an_allowlisted_origin_gets_its_preflight_and_answers(backend, cors_app):
    world = await make_world(await make_tenant())
    async with await _client(cors_app) as client:
        ok = await client.options("/v1/contacts", headers={"Origin": ALLOWED, **PREFLIGHT})
        assert ok.status_code == 204, ok.text  # answered before the envelope: no key asked
        assert ok.headers["access-control-allow-origin"] == ALLOWED
        assert "idempotency-key" in ok.headers["access-control-allow-headers"].lower()
        assert "access-control-allow-credentials" not in ok.headers
        other = await client.options("/v1/contacts", headers={"Origin": "https://evil.example",
                                                              **PREFLIGHT})
        assert other.status_code == 400 and "access-control-allow-origin" not in other.headers
        read = await client.get("/v1/tenant", headers={"Origin": ALLOWED, **world.tenant.headers})
        assert read.status_code == 200 and read.headers["access-control-allow-origin"] == ALLOWED
        evil = await client.get("/v1/tenant", headers={"Origin": "https://evil.example",
                                                       **world.tenant.headers})
        assert "access-control-allow-origin" not in evil.headers
        # still no key, no data: CORS opens nothing the key does not
        assert (await client.get("/v1/tenant", headers={"Origin": ALLOWED})).status_code == 401


@pytest.mark.parametrize("value", ["*", "https://app.example.com/path", "app.example.com",
                                   "https://*.example.com"])
def test_cors_origins_accepts_exact_origins_only(monkeypatch, value):
    monkeypatch.setenv("CORS_ORIGINS", value)
    with pytest.raises(ConfigError, match="CORS_ORIGINS"):
        load_settings()


def test_cors_origins_are_read(monkeypatch):
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example.com, http://127.0.0.1:3000 https://B.example")
    assert load_settings().cors_origins == (
        "https://a.example.com", "http://127.0.0.1:3000", "https://b.example")
    monkeypatch.delenv("CORS_ORIGINS")
    assert load_settings().cors_origins == ()
    assert os.environ.get("CORS_ORIGINS") is None
