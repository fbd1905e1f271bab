"""Keys, sessions and secrets (issue 13 §4): existing key ids are not told
apart by timing, failures cannot burn CPU, a key has exactly one owner,
session tokens are stored hashed, and the application role with no tenant
set reads no tenant's secret and no outbox row (whatever settings it makes)."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import statistics
import time
import uuid

import asyncpg
import httpx
import pytest

from optinbase import db, limits
from optinbase.settings import ARGON2_PROFILES
from tenants import envelope, keys, passwords, repository
from tests import databases
from admin.scope import SESSION_COOKIE
from tests.admin.staff import login, make_agency, make_staff, new_http
from tests.factories import as_owner, make_notice, make_purpose, make_tenant


def _forged(key_id: str) -> str:
    return f"obk_{key_id}_{secrets.token_urlsafe(32)[:43]}"


async def _timed(client, key: str) -> float:
    start = time.perf_counter()
    answer = await client.get("/v1/tenant", headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 401
    return time.perf_counter() - start


@pytest.fixture
def deployed_cost(monkeypatch):
    """argon2id at OWASP's minimum cost instead of the suite's test profile
    (~0.5 ms a hash, too close to a request's own time to tell anything)."""
    hasher = passwords.PasswordHasher(**ARGON2_PROFILES["owasp-minimum"])
    monkeypatch.setattr(passwords, "hasher", lambda: hasher)
    passwords.dummy_hash.cache_clear()  # made again at that cost
    yield
    passwords.dummy_hash.cache_clear()


async def test_unknown_id_and_wrong_secret_take_the_same_time(client, deployed_cost):
    tenant = await make_tenant()
    real_id = tenant.key.split("_")[1]
    unknown, wrong = [], []
    for _ in range(7):  # interleaved, fresh guesses each time (a repeat is cached)
        unknown.append(await _timed(client, _forged(secrets.token_hex(8))))
        wrong.append(await _timed(client, _forged(real_id)))
    slow, fast = sorted((statistics.median(unknown), statistics.median(wrong)), reverse=True)
    assert slow / fast < 2.5, (unknown, wrong)
    # Both paid an argon2 verify (OWASP-minimum parameters here: ~15 ms).
    assert fast > 0.005, (unknown, wrong)


async def test_failures_are_limited_per_address_before_any_argon2(client, monkeypatch):
    calls = []
    real_verify = keys.verify_secret
    monkeypatch.setattr(keys, "verify_secret", lambda *a: calls.append(1) or real_verify(*a))
    tenant = await make_tenant()
    statuses = [(await client.get("/v1/tenant", headers={
        "Authorization": f"Bearer {_forged(secrets.token_hex(8))}"})).status_code
        for _ in range(limits.KEY_FAILURES.limit)]
    assert statuses == [401] * limits.KEY_FAILURES.limit
    done = len(calls)
    locked = await client.get("/v1/tenant", headers={"Authorization": f"Bearer {tenant.key}"})
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
    assert len(calls) == done  # no argon2 work for a locked-out address
    # Another address is not locked out, and its right key works.
    transport = httpx.ASGITransport(app=client._transport.app, client=("198.51.100.4", 1000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
        assert (await other.get("/v1/tenant", headers=tenant.headers)).status_code == 200


async def test_a_repeated_failure_costs_nothing(client, monkeypatch):
    calls = []
    real_verify = keys.verify_secret
    monkeypatch.setattr(keys, "verify_secret", lambda *a: calls.append(1) or real_verify(*a))
    guess = _forged(secrets.token_hex(8))
    for _ in range(5):
        answer = await client.get("/v1/tenant", headers={"Authorization": f"Bearer {guess}"})
        assert answer.status_code == 401
    assert len(calls) == 1


async def test_a_key_has_exactly_one_owner(backend):
    """Ownerless, or owned twice: refused by the schema on both engines (an
    ownerless row meets row-level security first on PostgreSQL; the CHECK
    stands behind it)."""
    tenant = await make_tenant()
    agency = await repository.agency_by_slug(await make_agency())
    if backend == "postgres":
        check = await db.fetchval("SELECT pg_get_constraintdef(oid) FROM pg_constraint"
                                  " WHERE conname = 'api_key_one_owner'")
        assert "tenant_id IS NULL" in check and "agency_id IS NULL" in check
    for tenant_id, agency_id in ((None, None), (tenant.id, uuid.UUID(str(agency["id"])))):
        orphan = repository.KeyRecord(
            id=uuid.uuid4(), key_id=secrets.token_hex(8), tenant_id=tenant_id,
            agency_id=agency_id, name="orphan", secret_hash="x", scopes=["admin"],
            created_at=dt.datetime.now(dt.timezone.utc), expires_at=None, revoked_at=None)
        with pytest.raises(Exception, match="api_key_one_owner|row-level security"
                           if tenant_id is None else "api_key_one_owner"):
            async with as_owner(), envelope.control(tenant_id=tenant_id, agency_id=agency_id):
                await repository.insert_key(orphan)


async def test_session_tokens_are_stored_hashed(client):
    email = await make_staff(superuser=True)
    admin = await login(client, email)
    try:
        token = next(c.value for c in admin.http.cookies.jar if c.name == SESSION_COOKIE)
        stored = [r["token"] for r in await db.fetch("SELECT token FROM staff_session")]
        assert token not in stored
        assert hashlib.sha256(token.encode()).hexdigest() in stored
        assert (await admin.get("/tables/staff_user/")).status_code == 200  # the cookie works
        # A stolen row is no session: its value as a cookie opens nothing.
        thief = new_http(client)
        thief.cookies.set(SESSION_COOKIE, hashlib.sha256(token.encode()).hexdigest())
        assert (await thief.get("/admin/api/tables/staff_user/")).status_code in (401, 403)
        await thief.aclose()
    finally:
        await admin.aclose()


@pytest.fixture
async def app_role(backend):
    if backend != "postgres":
        pytest.skip("roles and row-level security are PostgreSQL's")
    conn = await asyncpg.connect(databases.POSTGRES_URL)
    yield conn
    await conn.close()


async def test_the_app_role_reads_no_tenant_secret_without_its_tenant(app_role):
    a, b = await make_tenant(), await make_tenant()
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await app_role.fetch("SELECT secret FROM tenant")
    assert await app_role.fetchval("SELECT optinbase_tenant_secret($1)", a.id) is None
    async with app_role.transaction():
        await app_role.execute("SELECT set_config('app.tenant_id', $1, true)", str(a.id))
        assert len(await app_role.fetchval("SELECT optinbase_tenant_secret($1)", a.id)) == 64
        assert await app_role.fetchval("SELECT optinbase_tenant_secret($1)", b.id) is None
    # The function is the owner's, and PUBLIC may not call it.
    granted = await app_role.fetchval(
        "SELECT array_agg(grantee::regrole::text) FROM (SELECT (aclexplode(proacl)).grantee"
        " FROM pg_proc WHERE proname = 'optinbase_tenant_secret') g")
    assert "-" not in granted and "0" not in [str(g) for g in granted]


async def test_setting_app_worker_opens_no_outbox(app_role, client):
    tenant = await make_tenant()
    await make_purpose(tenant, "news")
    notice = await make_notice(tenant, "news", ("email",))
    queued = await client.post(f"/p/{tenant.slug}/subscribe", json={
        "email": "worker@example.org",
        "consents": [{"channel": "email", "purpose": "news", "notice_id": notice["id"]}]})
    assert queued.status_code == 202
    async with db.tenant_transaction(tenant.id, write=False):
        assert await db.fetchval("SELECT count(*) FROM outbox_message WHERE tenant_id = {}",
                                 tenant.id) >= 1
    for setting in ("app.worker", "app.delivery", "app.tenant_ids"):
        await app_role.execute("SELECT set_config($1, $2, false)", setting,
                               "on" if setting != "app.tenant_ids" else "{}")
    assert await app_role.fetchval("SELECT count(*) FROM outbox_message") == 0
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await app_role.execute("UPDATE outbox_message SET status = 'sent'")
