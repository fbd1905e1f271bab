"""A real `optinbase serve` process on a SQLite file migrated by the CLI, driven
over HTTP; the CLI (another process) revokes a key the server has cached."""

from __future__ import annotations

import time
from typing import Iterator

import httpx
import pytest

from tests.e2e.serving import COMMAND, Running, serving

__all__ = ["COMMAND", "server"]

@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Running]:
    """One server for the module (the admin browser tests share it); keys are
    re-checked every second so a revocation by the CLI shows quickly."""
    with serving(tmp_path_factory.mktemp("server"), API_KEY_CACHE_SECONDS="1") as running:
        yield running


def test_health_ready_and_openapi(server):
    with httpx.Client(base_url=server.base_url, timeout=10) as http:
        assert http.get("/health").json() == {"status": "ok"}
        ready = http.get("/ready")
        assert ready.status_code == 200 and ready.json() == {"status": "ok"}
        schema = http.get("/schema/openapi.json")
        assert schema.status_code == 200
        assert schema.headers["content-type"].startswith("application/")
        document = schema.json()
        assert "/v1/consent-check" in document["paths"]
        assert "/v1/contacts" in document["paths"]


def test_consent_flow_then_cross_process_revocation(server):
    server.cli("tenants", "create", "e2e-shop", "--name", "E2E Shop")
    key = server.cli("keys", "create", "--tenant", "e2e-shop").splitlines()[-1]
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=10) as http:
        assert http.get("/v1/tenant").json()["slug"] == "e2e-shop"
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
        assert "ok" in server.cli("ledger", "verify", "--tenant", "e2e-shop")

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
