"""`optinbase_refresh_import_statistics()` (migration consent_2026_12_02t15_40):
tables analysed while empty made an import's matching read take a
(tenant_id, …) index other than the identifier's and filter the tenant's rows
chunk after chunk. The application role may not ANALYZE; the owner's function
does, for the four tables an import grows, each only once it has outgrown its
statistics while they are small. Every import chunk calls it (Writer.plan),
but on Citus."""

from __future__ import annotations

import asyncio

import pytest

from consent.imports import write
from optinbase import db
from tests import databases
from tests.factories import make_tenant

# Not called on Citus (write.Writer.plan): its tables there are the shards.
pytestmark = pytest.mark.skipif(bool(databases.CITUS_URL), reason="PostgreSQL's, not Citus's")

TABLES = ("contact", "consent_event", "consent_state", "change_log")


async def _analyses(conn) -> dict[str, int]:
    rows = await conn.fetch("SELECT relname, analyze_count FROM pg_stat_user_tables"
                            " WHERE relname = ANY($1::text[])", list(TABLES))
    return {r["relname"]: r["analyze_count"] for r in rows}


async def _refresh(tenant_id) -> int:
    async with db.tenant_transaction(tenant_id):  # the application role
        return await db.fetchval("SELECT optinbase_refresh_import_statistics()")


async def test_an_outgrown_small_table_is_analysed_for_the_application_role(pg_owner):
    tenant = await make_tenant()
    await pg_owner.execute("ANALYZE contact, consent_event, consent_state, change_log")
    held = await pg_owner.fetchval("SELECT reltuples FROM pg_class WHERE oid = 'contact'::regclass")
    if held >= 10_000:  # it runs first in its worker (tests/conftest.py LONG_FIRST)
        pytest.skip("this test database's contacts are past the function's range")
    before = await _analyses(pg_owner)
    assert await _refresh(tenant.id) == 0  # nothing changed since the analysis

    rows = int(max(held, 1_000)) + 1
    await pg_owner.execute(f"SELECT set_config('app.tenant_id', '{tenant.id}', false)")
    await pg_owner.execute(
        "INSERT INTO contact (id, tenant_id, email, attributes, created_at, updated_at)"
        " SELECT gen_random_uuid(), $1, 's' || g || '@example.com', '{}', now(), now()"
        " FROM generate_series(1, $2) g", tenant.id, rows)
    await pg_owner.execute("SELECT pg_stat_force_next_flush()")  # counted once idle
    for _ in range(200):
        changed = await pg_owner.fetchval("SELECT n_mod_since_analyze FROM pg_stat_user_tables"
                                          " WHERE relname = 'contact'")
        if changed >= rows:
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail(f"the {rows} contacts were not counted in 10 s ({changed} changes)")

    assert await _refresh(tenant.id) >= 1
    after = await _analyses(pg_owner)
    assert after["contact"] == before["contact"] + 1
    assert await _refresh(tenant.id) == 0  # analysed: nothing left to do


async def test_the_application_role_cannot_analyse_by_itself(pg_owner):
    """What the function opens is those four tables' statistics, nothing
    else: a plain ANALYZE by the application role is skipped (PostgreSQL
    warns and does nothing), and the function takes no argument."""
    tenant = await make_tenant()
    before = await _analyses(pg_owner)
    async with db.tenant_transaction(tenant.id):
        await db.execute("ANALYZE contact")
        arguments = await db.fetchval(
            "SELECT pronargs FROM pg_proc WHERE proname = 'optinbase_refresh_import_statistics'")
    assert (await _analyses(pg_owner))["contact"] == before["contact"]
    assert arguments == 0


def test_every_import_chunk_refreshes_them_on_postgresql_but_not_on_citus(monkeypatch):
    writer = write.Writer.__new__(write.Writer)
    writer.engine = "postgres"
    assert writer.plan.endswith(", optinbase_refresh_import_statistics()")
    databases.forms_of(monkeypatch, True)
    assert "optinbase_refresh" not in writer.plan
    writer.engine = "sqlite"
    assert writer.plan == ""
