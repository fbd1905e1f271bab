"""The shared limiters themselves, on the database and on Redis, and the
limits built on them: admin logins per account and per address whatever the
forwarding headers, confirmation e-mails per target address."""

from __future__ import annotations

import dataclasses
import os

import pytest
import redis.asyncio as redis_asyncio

from optinbase import db, limits
from optinbase.settings import get_settings
from tests.admin.staff import PASSWORD, csrf, make_staff, new_http
from tests.factories import make_notice, make_purpose, make_tenant

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture(params=["database", "redis"])
async def store(request, backend, monkeypatch):
    """The limiters on the test database, or on Redis (REDIS_URL)."""
    limits.forget()
    if request.param == "redis":
        probe = redis_asyncio.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
        try:
            await probe.ping()
        except Exception:
            if os.environ.get("CI", "").lower() == "true":
                pytest.fail(f"CI=true but no Redis at {REDIS_URL}")
            pytest.skip(f"no Redis at {REDIS_URL}")
        finally:
            await probe.aclose()
        settings = dataclasses.replace(get_settings(), redis_url=REDIS_URL)
        monkeypatch.setattr(limits, "get_settings", lambda: settings)
        monkeypatch.setattr(limits, "_redis", None)
    yield request.param
    if limits._redis is not None:
        await limits._redis.aclose()


async def _stored_keys(store: str) -> list[str]:
    if store == "redis":
        return [k.decode() for k in await limits._redis.keys("*")]
    return [row["key"] for row in await db.fetch("SELECT key FROM rate_limit")]


async def test_spend_spent_lock_and_hashed_subjects(store):
    limit = limits.Limit("test.bucket", 2, 60, lock=120)
    subject = "mallory@example.org"
    assert not await limits.spent(limit, subject)
    assert [await limits.spend(limit, subject) for _ in range(3)] == [True, True, False]
    assert await limits.spent(limit, subject)
    assert not await limits.spent(limit, "someone-else@example.org")
    assert await limits.spend(limit, "someone-else@example.org")
    keys = await _stored_keys(store)
    assert keys and not any("mallory" in k or "example" in k for k in keys)  # keyed hashes only
    if store == "redis":
        ttl = await limits._redis.ttl(limits._key(limit, subject))
        assert 60 < ttl <= 120  # the hit that reached the limit set the lock


async def _attempt(http, token: str, email: str, password: str, address: str) -> int:
    answer = await http.post("/admin/public/login/", json={"username": email,
                                                           "password": password},
                             headers={"X-CSRFToken": token, "X-Forwarded-For": address})
    return answer.status_code


async def test_login_locked_per_account_whatever_the_forwarding_header(client):
    email = await make_staff(superuser=True)
    http = new_http(client)
    token = await csrf(http)
    guesses = [await _attempt(http, token, email, f"guess {i}", f"203.0.113.{i}")
               for i in range(20)]
    assert guesses == [401] * 20
    # Locked: the right password too, from any claimed address.
    assert await _attempt(http, token, email, PASSWORD, "198.51.100.77") == 429
    await http.aclose()


async def test_login_locked_per_account_across_addresses(client, monkeypatch):
    """Even when addresses are believed (a trusted proxy), one account takes
    20 failures in all, from however many addresses."""
    from admin import gate

    real = gate.login_limits
    monkeypatch.setattr(gate, "login_limits", lambda: (
        dataclasses.replace(real()[0], limit=1000), real()[1]))
    email = await make_staff(superuser=True)
    http = new_http(client)
    token = await csrf(http)
    assert [await _attempt(http, token, email, "nope", "x") for _ in range(20)] == [401] * 20
    other = await make_staff(superuser=True)  # another account from the same address works
    assert await _attempt(http, token, other, PASSWORD, "x") == 200
    assert await _attempt(http, token, email, PASSWORD, "x") == 429
    await http.aclose()


async def test_confirmation_mails_limited_per_target_address(client):
    tenant = await make_tenant()
    await make_purpose(tenant, "news")
    notice = await make_notice(tenant, "news", ("email",))
    body = {"email": "victim@example.org",
            "consents": [{"channel": "email", "purpose": "news", "notice_id": notice["id"]}]}
    for _ in range(6):  # within the form's per-address limit (10)
        answer = await client.post(f"/p/{tenant.slug}/subscribe", json=body,
                                   headers={"Accept": "application/json"})
        assert answer.status_code == 202  # the same answer whether mailed or not: no oracle
    async with db.tenant_transaction(tenant.id, write=False):
        sent = await db.fetchval("SELECT count(*) FROM outbox_message WHERE tenant_id = {}"
                                 " AND recipient = {}", tenant.id, "victim@example.org")
    assert sent == limits.MAIL_TARGET.limit == 3
