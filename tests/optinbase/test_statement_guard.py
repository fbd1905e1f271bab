"""The statement guard (tests/statement_guard.py) that the API suite runs on every
statement it sends: what it accepts, what it names, and that the data layer's
recorder really hands it what the pool sends."""

from __future__ import annotations

import asyncio

import pytest

from optinbase import db
from tests import databases
from tests.statement_guard import statement_violations, violations

A, B = "0b6e3f7a-1c9e-4f57-9a43-1f0d2c3b4a50", "7d1c9e2b-5a43-4e0f-8b61-2c3d4e5f6a70"

ROUTED = [
    ("SELECT * FROM contact WHERE tenant_id = $1 AND id = $2", (A, "x")),
    ('SELECT ALL "contact"."id" FROM "contact" WHERE "contact"."tenant_id" = $1::uuid', (A,)),
    ("SELECT c.id FROM contact c JOIN consent_state s ON s.tenant_id = c.tenant_id"
     " AND s.contact_id = c.id WHERE c.tenant_id = $1", (A,)),
    ("SELECT count(*) FROM consent_state s JOIN contact c ON c.id = s.contact_id"
     " WHERE s.tenant_id = $1 AND c.tenant_id = $2", (A, A)),  # two parameters, one tenant
    ("INSERT INTO contact (id, tenant_id) VALUES ($1, $2) ON CONFLICT (tenant_id, id) DO NOTHING",
     ("x", A)),
    ("UPDATE contact SET x = 1 WHERE tenant_id = $1 AND EXISTS (SELECT 1 FROM consent_state s"
     " WHERE s.tenant_id = contact.tenant_id)", (A,)),
    ("WITH x AS (SELECT id FROM contact WHERE tenant_id = $1) SELECT * FROM x", (A,)),
    ("SELECT seq, hash FROM ledger_head WHERE tenant_id = $1 FOR UPDATE", (A,)),
    ("BEGIN; SELECT set_config('app.tenant_id', 'x', true)", ()),
    ("SELECT id FROM tenant WHERE slug = $1", ("acme",)),  # a reference table
    ('SELECT COUNT(*) FROM "contact" WHERE "contact"."tenant_id" IN ($1)', (A,)),
]

REFUSED = [
    ("SELECT * FROM contact WHERE id = $1", ("x",), "contact: no tenant_id = $n"),
    ("DELETE FROM contact WHERE id = $1 OR tenant_id = $2", ("x", A),
     "contact: no tenant_id = $n"),
    ("SELECT * FROM contact WHERE tenant_id = (SELECT $1::uuid)", (A,),
     "tenant_id = (SELECT ...) is not a plain parameter"),
    ("SELECT * FROM segment WHERE tenant_id = ANY($1)", ([A, B],), "spans tenants"),
    ("SELECT id FROM outbox_message WHERE status = 'pending' LIMIT 10 FOR UPDATE SKIP LOCKED", (),
     "outbox_message: FOR UPDATE across tenants"),
    ("SELECT c.id FROM contact c JOIN consent_state s ON s.contact_id = c.id"
     " WHERE c.tenant_id = $1", (A,), "consent_state: no tenant_id = $n"),
    ("SELECT c.id FROM contact c JOIN consent_state s ON s.contact_id = c.id"
     " WHERE c.tenant_id = $1 AND s.tenant_id = $2", (A, B), "joins two tenants"),
    ('SELECT COUNT(*) FROM "contact" WHERE "contact"."tenant_id" IN ($1, $2)', (A, B),
     "contact: spans 2 tenants"),
    ("SELECT * FROM contact c WHERE EXISTS (SELECT 1 FROM api_key WHERE tenant_id = $1)", (A,),
     "contact: no tenant_id = $n"),  # that tenant_id is api_key's
    ("INSERT INTO consent_event (id, tenant_id) SELECT id, tenant_id FROM import_event", (),
     "consent_event: no tenant_id = $n"),
]


@pytest.mark.parametrize("sql,args", ROUTED)
def test_statements_pinned_to_one_tenant_pass(sql, args):
    assert violations(sql, args) == []


@pytest.mark.parametrize("sql,args,problem", REFUSED)
def test_statements_citus_cannot_route_are_named(sql, args, problem):
    assert any(problem in found for found in violations(sql, args)), violations(sql, args)


def test_each_row_of_an_executemany_is_checked():
    sql = "INSERT INTO contact (id, tenant_id) VALUES ($1, $2)"
    assert statement_violations(sql, [("x", A), ("y", A)]) == []
    assert statement_violations("UPDATE contact SET x = $1 WHERE id = $2", [(1, "x")]) == [
        "contact: no tenant_id = $n"]


async def test_the_recorder_sees_what_the_pool_sends(backend):
    if backend != "postgres":
        pytest.skip("the recorder watches PostgreSQL connections")
    engine = db.engine_from_url(databases.POSTGRES_URL)
    seen: list[tuple[str, object]] = []
    saved, db.statement_recorder = db.statement_recorder, lambda sql, args: seen.append((sql, args))
    try:
        await db.start(engine)
        async with engine.pool.acquire() as connection:
            await connection.fetch("SELECT * FROM contact WHERE id = $1", A)
    finally:
        db.statement_recorder = saved
        await db.stop(engine)
    await asyncio.sleep(0)
    sent = ("SELECT * FROM contact WHERE id = $1", (A,))
    assert sent in seen
    assert statement_violations(*sent) == ["contact: no tenant_id = $n"]
