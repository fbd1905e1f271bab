"""A real `optinbase serve` process on the test database (PostgreSQL: as the
application role), driven over HTTP; the CLI (another process) revokes a key
the server has cached."""

from __future__ import annotations

import time

import pytest

from tests import processes
from tests.factories import TenantFixture, make_tenant, unique_slug


@pytest.fixture
async def shop(engine: str) -> TenantFixture:
    return await make_tenant(slug=unique_slug("e2e-shop"), name="E2E Shop")


def test_health_ready_and_openapi(server):
    with processes.http(base_url=server.base_url, timeout=10) as http:
        assert http.get("/health").json() == {"status": "ok"}
        ready = http.get("/ready")
        assert ready.status_code == 200 and ready.json() == {"status": "ok"}
        schema = http.get("/schema/openapi.json")
        assert schema.status_code == 200
        assert schema.headers["content-type"].startswith("application/")
        document = schema.json()
        assert "/v1/consent-check" in document["paths"]
        assert "/v1/contacts" in document["paths"]


def test_consent_flow_then_cross_process_revocation(server, shop):
    key = shop.key
    with processes.http(base_url=server.base_url, headers=shop.headers, timeout=10) as http:
        assert http.get("/v1/tenant").json()["slug"] == shop.slug
        purpose = http.post("/v1/purposes", json={"key": "newsletter", "name": "Newsletter"})
        assert purpose.status_code == 201, purpose.text
        notice = http.post("/v1/notices", json={
            "purpose": "newsletter", "channels": ["email"], "language": "en",
            "text": "Yes, e-mail me the newsletter."})
        assert notice.status_code == 201, notice.text
        contact = http.post("/v1/contacts", json={"email": "Ada@Example.com"})
        assert contact.status_code == 201, contact.text
        check_params = {"email": "ada@example.com", "channel": "email", "purpose": "newsletter"}
        before = http.get("/v1/consent-check", params=check_params).json()
        assert before["allowed"] is False and before["status"] == "none"
        granted = http.post(f"/v1/contacts/{contact.json()['id']}/consents", json={
            "channel": "email", "purpose": "newsletter", "action": "grant", "method": "api",
            "notice_id": notice.json()["id"]})
        assert granted.status_code == 201, granted.text
        check = http.get("/v1/consent-check", params=check_params)
        assert check.status_code == 200, check.text
        assert check.json()["allowed"] is True
        assert check.json()["event_id"] == granted.json()["id"]
        assert "ok" in server.cli("ledger", "verify", "--tenant", shop.slug)

        # The server has verified (and cached) the key; another process revokes it.
        assert http.get("/v1/tenant").status_code == 200
        server.cli("keys", "revoke", key.split("_")[1])
        deadline = time.monotonic() + 10
        status = 200
        while status != 401 and time.monotonic() < deadline:
            time.sleep(0.2)
            status = http.get("/v1/tenant").status_code
        assert status == 401, f"the revoked key still works after 10 s\n{server.log_text()}"
        refused = http.get("/v1/consent-check", params=check_params)
        assert refused.status_code == 401
        assert refused.headers["content-type"].startswith("application/problem+json")
