"""Security headers on every answer (api.headers), and what production
refuses to start without."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import re
import uuid

import httpx
import pytest

from api import headers as security
from api.app import create_app
from consent import tokens
from optinbase.settings import ConfigError, get_settings, load_settings
from tests import apps
from tests.factories import make_contact, make_purpose, make_tenant


def _csp(answer: httpx.Response) -> dict[str, list[str]]:
    directives = {}
    for part in answer.headers["content-security-policy"].split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def _inline_hashes(html: str, kind: str) -> list[str]:
    blocks = re.findall(rf"<{kind}(?![^>]*\bsrc=)[^>]*>(.*?)</{kind}>", html, re.S)
    return [f"'sha256-{base64.b64encode(hashlib.sha256(b.encode()).digest()).decode()}'"
            for b in blocks]


async def test_public_form_page(client):
    tenant = await make_tenant()
    page = await client.get(f"/p/{tenant.slug}/subscribe")
    assert page.status_code == 200
    csp = _csp(page)
    assert csp["script-src"] == ["'self'"]  # no inline script at all
    assert csp["style-src"] == ["'self'", *_inline_hashes(page.text, "style")]
    assert "'unsafe-inline'" not in page.headers["content-security-policy"]
    assert ' style="' not in page.text  # no style attribute the policy would block
    assert csp["frame-ancestors"] == ["'none'"] and page.headers["x-frame-options"] == "DENY"
    assert csp["default-src"] == ["'none'"] and csp["form-action"] == ["'self'"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "same-origin"  # the form keeps its Origin


async def test_token_pages_send_no_referrer(client):
    tenant = await make_tenant()
    purpose = await make_purpose(tenant)
    contact = await make_contact(tenant, email="ref@example.org")
    token = tokens.make_token(get_settings().secret_key, tenant.id, uuid.UUID(contact["id"]),
                              uuid.UUID(purpose["id"]), "email")
    for path in (f"/p/unsubscribe/{token}", f"/p/preferences/{token}", "/p/confirm/forged",
                 "/p/requests/status/forged", "/p/keep/forged"):
        answer = await client.get(path)
        assert answer.headers["referrer-policy"] == "no-referrer", path
        assert answer.headers["x-content-type-options"] == "nosniff", path


@pytest.mark.parametrize("path", ["/v1/tenant", "/health", "/no/such/route",
                                  "/schema/openapi.json"])
async def test_everything_else_is_locked_down(client, path):
    answer = await client.get(path)
    assert _csp(answer) == {"default-src": ["'none'"], "frame-ancestors": ["'none'"]}
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert "strict-transport-security" not in answer.headers  # development


async def test_docs_inline_script_is_allowed_by_its_hash_only(client):
    page = await client.get("/schema/swagger")
    assert page.status_code == 200
    hashes = _inline_hashes(page.text, "script")
    assert hashes and _csp(page)["script-src"] == ["'self'", *hashes]


async def test_admin_page(client):
    page = await client.get("/admin/")
    assert page.status_code == 200
    csp = _csp(page)
    assert csp["script-src"][0] == "'self'" and "'unsafe-inline'" not in csp["script-src"]
    # Decided on the path as asked, not as the mounted admin rewrote it.
    assert "'unsafe-inline'" in csp["style-src"]
    assert csp["frame-ancestors"] == ["'none'"]


async def test_production_adds_hsts_and_secure_cookies(backend):
    settings = dataclasses.replace(get_settings(), environment="production")
    app = apps.reset(create_app(settings))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as http:
        page = await http.get("/admin/")
        assert page.headers["strict-transport-security"].startswith("max-age=")
        cookies = page.headers.get_list("set-cookie")
        assert any(c.startswith("csrftoken=") for c in cookies)
        assert all(re.search(r";\s*Secure", c, re.I) for c in cookies), cookies
        assert (await http.get("/health")).headers["strict-transport-security"]


async def test_frame_ancestors_hook(client, monkeypatch):
    monkeypatch.setattr(security, "FRAME_ANCESTORS",
                        [lambda scope: ["https://shop.example"]
                         if scope["path"].startswith("/p/") else []])
    tenant = await make_tenant()
    page = await client.get(f"/p/{tenant.slug}/subscribe")
    assert _csp(page)["frame-ancestors"] == ["'self'", "https://shop.example"]
    assert "x-frame-options" not in page.headers
    assert _csp(await client.get("/v1/tenant"))["frame-ancestors"] == ["'none'"]


@pytest.mark.parametrize("missing", ["SECRET_KEY", "LEDGER_SIGNING_KEY", "SMTP_URL"])
def test_production_refuses_to_start_without(missing, monkeypatch, tmp_path):
    from optinbase import ed25519

    monkeypatch.setenv("OPTINBASE_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "s" * 48)
    monkeypatch.setenv("LEDGER_SIGNING_KEY", ed25519.private_pem(bytes(32)))
    monkeypatch.setenv("SMTP_URL", "smtp://mail.example:587")
    monkeypatch.setenv("SECRET_KEY_FILE", str(tmp_path / "secret"))
    monkeypatch.setenv("ARGON2_PROFILE", "owasp-minimum")  # the suite's is refused in production
    monkeypatch.chdir(tmp_path)
    load_settings()  # complete: starts
    monkeypatch.delenv(missing)
    with pytest.raises(ConfigError, match=missing):
        load_settings()
    assert not (tmp_path / "secret").exists()  # nothing generated in production
