"""Issue 13 §4 (worker access), PostgreSQL's wall: by setting `app.worker`
itself, the application role with no tenant set could read 52 outbox rows of 6
tenants. Workers now get their access through the owner's SECURITY DEFINER
functions, per tenant, with narrow rights; no setting opens anything. Checked
with raw connections as the application role, below the application code."""

from __future__ import annotations

import datetime as dt
import uuid

import asyncpg
import pytest

from tests import databases
from tests.factories import make_tenant
from tests.messaging.scenes import ask_confirmation, outbox


@pytest.fixture
async def two_tenants(client, backend):
    if backend != "postgres":
        pytest.skip("roles, grants and row-level security are PostgreSQL's wall")
    tenants = []
    for _ in range(2):
        tenant = await make_tenant()
        hook = await client.post("/v1/webhooks", headers=tenant.headers,
                                 json={"url": "https://crm.example/hooks",
                                       "events": ["consent.changed"]})
        assert hook.status_code == 201, hook.text
        await ask_confirmation(client, tenant)  # an e-mail and a webhook each
        assert len(await outbox(tenant)) == 2
        tenants.append(tenant)
    return tenants


async def _app() -> asyncpg.Connection:
    return await asyncpg.connect(databases.POSTGRES_URL)


async def test_setting_app_worker_yourself_opens_nothing(two_tenants):
    conn = await _app()
    try:
        await conn.execute("SELECT set_config('app.worker', 'outbox', false)")
        assert await conn.fetchval("SELECT count(*) FROM outbox_message") == 0
        assert await conn.fetchval("SELECT count(*) FROM webhook_endpoint") == 0
        assert await conn.fetchval("SELECT count(*) FROM webhook_endpoint WHERE secret <> ''") == 0
        async with conn.transaction():
            await conn.execute("SET LOCAL app.worker = 'outbox'")
            assert await conn.fetchval("SELECT count(*) FROM outbox_message") == 0
        assert await conn.fetchval(
            "SELECT count(*) FROM pg_policies WHERE policyname = 'outbox_worker'") == 0
    finally:
        await conn.close()


async def test_the_app_role_cannot_change_delivery_state_itself(two_tenants):
    a, _ = two_tenants
    conn = await _app()
    try:
        async with conn.transaction():
            await conn.execute("SELECT set_config('app.tenant_id', $1, true)", str(a.id))
            # content stays writable (erasure may scrub a payload) ...
            await conn.execute("UPDATE outbox_message SET payload = payload WHERE tenant_id = $1",
                               a.id)
            with pytest.raises(asyncpg.InsufficientPrivilegeError):  # ... delivery state is not
                await conn.execute("UPDATE outbox_message SET status = 'sent' WHERE tenant_id = $1",
                                   a.id)
        async with conn.transaction():
            await conn.execute("SELECT set_config('app.tenant_id', $1, true)", str(a.id))
            with pytest.raises(asyncpg.InsufficientPrivilegeError):  # a row born leased: refused
                await conn.execute(
                    "INSERT INTO outbox_message (id, tenant_id, kind, priority, recipient, subject,"
                    " payload, status, attempts, next_attempt_at, created_at, claim_token)"
                    " VALUES ($1, $2, 'email', 0, 'x@example.com', 's', '{}', 'sending', 0, now(),"
                    " now(), $3)", uuid.uuid4(), a.id, uuid.uuid4())
    finally:
        await conn.close()


async def test_the_functions_work_for_the_transactions_tenant_only(two_tenants):
    a, b = two_tenants
    now = dt.datetime.now(dt.timezone.utc)
    conn = await _app()
    try:
        # No tenant set: a claim finds nothing, whatever tenant it names.
        assert await conn.fetch("SELECT * FROM optinbase_outbox_claim($1, $2, $3, $4, 2, 50, 10, 'x')",
                                b.id, uuid.uuid4(), now, now + dt.timedelta(minutes=5)) == []
        async with conn.transaction():
            await conn.execute("SELECT set_config('app.tenant_id', $1, true)", str(a.id))
            # Tenant a set: naming b reaches nothing of b's.
            assert await conn.fetch(
                "SELECT * FROM optinbase_outbox_claim($1, $2, $3, $4, 2, 50, 10, 'x')",
                b.id, uuid.uuid4(), now, now + dt.timedelta(minutes=5)) == []
            # Which tenants have work: ids and classes only; the caller's tenant stays as it was.
            due = await conn.fetch("SELECT * FROM optinbase_outbox_due($1, 2)", now)
            assert {a.id, b.id} <= {r["tenant_id"] for r in due}
            assert set(due[0].keys()) == {"tenant_id", "priority"}
            assert await conn.fetchval("SELECT current_setting('app.tenant_id')") == str(a.id)
            token = uuid.uuid4()
            claimed = await conn.fetch(
                "SELECT * FROM optinbase_outbox_claim($1, $2, $3, $4, 2, 50, 10, 'example.org')",
                a.id, token, now, now + dt.timedelta(minutes=5))
            assert len(claimed) == 2
            # An outcome under another token changes nothing.
            assert await conn.fetchval(
                "SELECT optinbase_outbox_record($1, $2, $3, 'sent', NULL, NULL, now())",
                a.id, claimed[0]["id"], uuid.uuid4()) is False
            assert await conn.fetchval(
                "SELECT optinbase_outbox_record($1, $2, $3, 'sent', NULL, NULL, now())",
                a.id, claimed[0]["id"], token) is True
        assert await conn.fetchval("SELECT current_setting('app.tenant_id', true)") in ("", None)
    finally:
        await conn.close()
    assert sorted(r["status"] for r in await outbox(b)) == ["pending", "pending"]
    assert sorted(r["status"] for r in await outbox(a)) == ["sending", "sent"]
