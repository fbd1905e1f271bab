"""Below the application: the schema itself refuses cross-tenant references and
edits of immutable rows, on SQLite (triggers) as on PostgreSQL (composite keys)."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from optinbase import db
from tests.factories import make_tenant, make_world


async def test_rows_cannot_reference_another_tenants_rows(backend):
    a = await make_world(await make_tenant())
    b = await make_world(await make_tenant())
    now = dt.datetime.now(dt.timezone.utc)
    attempts = [
        ("INSERT INTO consent_state (id, tenant_id, contact_id, channel, purpose_id, status, since,"
         " event_id, updated_at) VALUES ({}, {}, {}, 'email', {}, 'granted', {}, {}, {})",
         (uuid.uuid4(), b.tenant.id, uuid.UUID(a.contact["id"]), uuid.UUID(b.purpose["id"]), now,
          uuid.UUID(b.event["id"]), now)),
        ("INSERT INTO notice (id, tenant_id, purpose_id, channels, language, version, text,"
         " text_sha256, partners, created_at) VALUES ({}, {}, {}, '[]', 'en', 9, 't', 'x', '[]', {})",
         (uuid.uuid4(), b.tenant.id, uuid.UUID(a.purpose["id"]), now)),
    ]
    for sql, args in attempts:
        with pytest.raises(Exception) as caught:
            async with db.tenant_transaction(b.tenant.id):
                await db.execute(sql, *args)
        assert "FOREIGN KEY" in str(caught.value).upper() or "foreign key" in str(caught.value)


async def test_notices_are_immutable(client):
    world = await make_world(await make_tenant())
    with pytest.raises(Exception) as caught:
        async with db.tenant_transaction(world.tenant.id):
            await db.execute("UPDATE notice SET text = 'changed' WHERE id = {}",
                             uuid.UUID(world.notice["id"]))
    assert "immutable" in str(caught.value) or "permission denied" in str(caught.value)
    fetched = await client.get(f"/v1/notices/{world.notice['id']}", headers=world.tenant.headers)
    assert fetched.json()["text"] == world.notice["text"]


async def test_a_contact_still_named_by_the_ledger_cannot_be_deleted(client):
    """Erasure blanks the ledger's link before it deletes a contact; a delete that
    forgets to is refused (it used to clear the link silently, which Citus refuses)."""
    world = await make_world(await make_tenant())
    tenant_id, contact_id = world.tenant.id, uuid.UUID(world.contact["id"])
    with pytest.raises(Exception) as caught:
        async with db.tenant_transaction(tenant_id):
            await db.execute("DELETE FROM contact WHERE tenant_id = {} AND id = {}",
                             tenant_id, contact_id)
    assert "foreign key" in str(caught.value).lower()
    async with db.tenant_transaction(tenant_id, write=False):
        assert await db.fetchval(
            "SELECT count(*) FROM consent_event WHERE tenant_id = {} AND contact_id = {}",
            tenant_id, contact_id) == 1
        assert await db.fetchval(
            "SELECT count(*) FROM contact WHERE tenant_id = {} AND id = {}",
            tenant_id, contact_id) == 1
