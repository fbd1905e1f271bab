"""Wall 3: PostgreSQL row-level security, checked with raw connections as the
application role, below every line of application code."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from optinbase import db
from tests import databases
from tests.factories import make_tenant, make_world

TENANT_TABLES = ["api_key", "contact", "purpose", "notice", "consent_event", "ledger_head",
                 "consent_state", "audit_event", "idempotency_record", "segment",
                 "suppression", "import_job", "outbox_message", "webhook_endpoint",
                 "data_subject_request", "request_event", "change_log",
                 "inbound_endpoint", "inbound_event", "form_version",
                 "reconsent_campaign", "reconsent_request", "phone_proof", "contact_attempt"]
# Read before any tenant is known (staff login): guarded by grants, not RLS.
CONTROL_PLANE_WITH_TENANT_ID = {"membership"}


@pytest.fixture
async def two_worlds(backend):
    if backend != "postgres":
        pytest.skip("row-level security is PostgreSQL's wall")
    return await make_world(await make_tenant()), await make_world(await make_tenant())


async def _connect(url: str) -> asyncpg.Connection:
    return await asyncpg.connect(url)


async def _as(conn: asyncpg.Connection, name: str, value: str) -> None:
    """Sets `name` for the open transaction as the application does
    (`db.settings_sql`): `set_config` on PostgreSQL; on a Citus coordinator
    (CITUS_URL) a `SET LOCAL` carried to the shards, where row-level security
    reads it (a `set_config` stays on the coordinator: the shards saw no
    tenant, read nothing and refused every write)."""
    await conn.execute(db.settings_sql({name: value}, bool(databases.CITUS_URL)))


async def test_every_table_with_tenant_id_has_forced_rls(two_worlds):
    conn = await _connect(databases.POSTGRES_URL)
    try:
        rows = await conn.fetch(
            "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity FROM pg_class c"
            " JOIN information_schema.columns col ON col.table_name = c.relname"
            " AND col.column_name = 'tenant_id' AND col.table_schema = 'public'"
            " WHERE c.relkind = 'r'"
        )
    finally:
        await conn.close()
    tables = {r["relname"]: (r["relrowsecurity"], r["relforcerowsecurity"]) for r in rows}
    assert set(tables) - CONTROL_PLANE_WITH_TENANT_ID == set(TENANT_TABLES)
    for name in TENANT_TABLES:
        assert tables[name] == (True, True), name


async def test_roles_cannot_bypass(two_worlds):
    conn = await _connect(databases.POSTGRES_URL)
    try:
        me = await conn.fetchrow(
            "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
        )
        owned = await conn.fetchval(
            "SELECT count(*) FROM pg_class WHERE relowner = (SELECT oid FROM pg_roles"
            " WHERE rolname = current_user)"
        )
    finally:
        await conn.close()
    assert (me["rolsuper"], me["rolbypassrls"]) == (False, False)
    assert owned == 0


@pytest.mark.parametrize("url_name", ["POSTGRES_URL", "POSTGRES_OWNER_URL"])
async def test_no_tenant_set_reads_nothing(two_worlds, url_name):
    """Fail closed, for the application role and (forced RLS) the owner too."""
    conn = await _connect(getattr(databases, url_name))
    try:
        for table in TENANT_TABLES:
            assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 0, table
        async with conn.transaction():
            await _as(conn, "app.tenant_id", "")
            assert await conn.fetchval("SELECT count(*) FROM contact") == 0
    finally:
        await conn.close()


async def test_tenant_set_sees_only_its_rows(two_worlds):
    a, b = two_worlds
    conn = await _connect(databases.POSTGRES_URL)
    try:
        async with conn.transaction():
            await _as(conn, "app.tenant_id", str(b.tenant.id))
            for table in ("contact", "purpose", "notice", "consent_event", "consent_state",
                          "api_key", "audit_event"):
                tenants = {r[0] for r in await conn.fetch(f"SELECT DISTINCT tenant_id FROM {table}")}
                assert tenants == {b.tenant.id}, table
    finally:
        await conn.close()


async def test_tenant_b_cannot_write_a_rows(two_worlds):
    a, b = two_worlds
    a_contact = uuid.UUID(a.contact["id"])
    b_contact = uuid.UUID(b.contact["id"])
    conn = await _connect(databases.POSTGRES_URL)
    try:
        async def as_b(sql: str, *args):
            async with conn.transaction():
                await _as(conn, "app.tenant_id", str(b.tenant.id))
                return await conn.execute(sql, *args)

        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await as_b(
                "INSERT INTO contact (id, tenant_id, email, attributes, created_at, updated_at)"
                " VALUES ($1, $2, 'x@example.com', '{}', now(), now())",
                uuid.uuid4(), a.tenant.id,
            )
        assert await as_b("UPDATE contact SET first_name = 'M' WHERE id = $1", a_contact) == "UPDATE 0"
        assert await as_b("DELETE FROM contact WHERE id = $1", a_contact) == "DELETE 0"
        # (Citus refuses to move a row to another tenant before row-level
        # security is asked: tenant_id is its distribution column.)
        with pytest.raises(asyncpg.FeatureNotSupportedError if databases.CITUS_URL
                           else asyncpg.InsufficientPrivilegeError):
            await as_b("UPDATE contact SET tenant_id = $1 WHERE id = $2", a.tenant.id, b_contact)
        # A foreign key cannot point across tenants either (composite keys).
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await as_b(
                "INSERT INTO consent_state (id, tenant_id, contact_id, channel, purpose_id, status,"
                " since, event_id, updated_at) VALUES ($1, $2, $3, 'email', $4, 'granted', now(),"
                " $5, now())",
                uuid.uuid4(), b.tenant.id, a_contact, uuid.UUID(b.purpose["id"]),
                uuid.UUID(b.event["id"]),
            )
    finally:
        await conn.close()
    # A's row is untouched.
    owner = await _connect(databases.POSTGRES_OWNER_URL)
    try:
        async with owner.transaction():
            await _as(owner, "app.tenant_id", str(a.tenant.id))
            row = await owner.fetchrow("SELECT first_name, tenant_id FROM contact WHERE id = $1",
                                       a_contact)
    finally:
        await owner.close()
    assert row["first_name"] is None and row["tenant_id"] == a.tenant.id


async def test_events_and_states_reach_their_tenant_through_composite_keys(two_worlds):
    """consent_event and consent_state have no single-column key to tenant (a
    lookup per imported row): every key they have includes tenant_id, and the
    NOT NULL purpose key leads to a purpose, which leads to its tenant."""
    a, _ = two_worlds
    owner = await _connect(databases.POSTGRES_OWNER_URL)
    try:
        keys = await owner.fetch(
            "SELECT conrelid::regclass::text AS source, confrelid::regclass::text AS target,"
            " (SELECT array_agg(attname ORDER BY attname) FROM pg_attribute"
            "  WHERE attrelid = conrelid AND attnum = ANY(conkey)) AS columns"
            " FROM pg_constraint WHERE contype = 'f'"
            " AND conrelid IN ('consent_event'::regclass, 'consent_state'::regclass)"
        )
        ghost = uuid.uuid4()
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            async with owner.transaction():
                await _as(owner, "app.tenant_id", str(ghost))
                await owner.execute(
                    "INSERT INTO consent_state (id, tenant_id, contact_id, channel, purpose_id,"
                    " status, since, event_id, updated_at) VALUES ($1, $2, $3, 'email', $4,"
                    " 'granted', now(), $5, now())",
                    uuid.uuid4(), ghost, uuid.UUID(a.contact["id"]), uuid.UUID(a.purpose["id"]),
                    uuid.UUID(a.event["id"]),
                )
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            async with owner.transaction():
                await owner.execute("DELETE FROM tenant WHERE id = $1", a.tenant.id)
    finally:
        await owner.close()
    by_table: dict[str, set[str]] = {}
    for key in keys:
        assert "tenant_id" in key["columns"] and len(key["columns"]) == 2, dict(key)
        by_table.setdefault(key["source"], set()).add(key["target"])
    assert by_table == {"consent_event": {"contact", "purpose", "notice"},
                        "consent_state": {"contact", "purpose", "consent_event"}}


async def test_a_state_naming_another_tenants_event_is_refused_when_it_commits(two_worlds):
    """A state's event is checked at commit (deferred: an import writes a
    chunk's states before it holds the ledger head, and their events after),
    but checked: someone with write access cannot leave a state that follows
    another tenant's event, nor one that follows no event. The deferred key is
    the only one; every other reference is checked by its statement."""
    a, b = two_worlds
    conn = await _connect(databases.POSTGRES_URL)
    try:
        for event_id in (uuid.UUID(a.event["id"]), uuid.uuid4()):
            transaction = conn.transaction()
            await transaction.start()
            try:
                await _as(conn, "app.tenant_id", str(b.tenant.id))
                # Another state for B's own contact, on a channel it has none for.
                assert await conn.execute(
                    "INSERT INTO consent_state (id, tenant_id, contact_id, channel, purpose_id,"
                    " status, since, event_id, updated_at) VALUES ($1, $2, $3, 'postal', $4,"
                    " 'granted', now(), $5, now())",
                    uuid.uuid4(), b.tenant.id, uuid.UUID(b.contact["id"]),
                    uuid.UUID(b.purpose["id"]), event_id) == "INSERT 0 1"
                # (A Citus coordinator reports the worker's refusal as "could
                # not commit transaction for shard …".)
                with pytest.raises(asyncpg.InternalServerError if databases.CITUS_URL
                                   else asyncpg.ForeignKeyViolationError):
                    await transaction.commit()
            finally:
                if not conn.is_closed() and conn.is_in_transaction():
                    await transaction.rollback()
        async with conn.transaction():
            await _as(conn, "app.tenant_id", str(b.tenant.id))
            stored = await conn.fetchval(
                "SELECT count(*) FROM consent_state WHERE tenant_id = $1 AND channel = 'postal'",
                b.tenant.id)
        deferred = await conn.fetch(  # the application's tables (not a Citus node's shards)
            "SELECT conname FROM pg_constraint WHERE condeferred"
            " AND conrelid::regclass::text = ANY($1::text[])", TENANT_TABLES)
    finally:
        await conn.close()
    assert stored == 0
    assert [r["conname"] for r in deferred] == ["consent_state_event_id_same_tenant"]


async def test_api_keys_are_visible_only_by_their_presented_id(two_worlds):
    a, _ = two_worlds
    a_key_id = a.tenant.key.split("_")[1]
    conn = await _connect(databases.POSTGRES_URL)
    try:
        async with conn.transaction():
            await _as(conn, "app.key_id", a_key_id)
            rows = await conn.fetch("SELECT key_id FROM api_key")
    finally:
        await conn.close()
    assert [r["key_id"] for r in rows] == [a_key_id]


async def test_policy_violation_maps_to_404_not_500(two_worlds):
    from api.problems import to_problem

    a, b = two_worlds
    conn = await _connect(databases.POSTGRES_URL)
    try:
        async with conn.transaction():
            await _as(conn, "app.tenant_id", str(b.tenant.id))
            try:
                await conn.execute(
                    "INSERT INTO purpose (id, tenant_id, key, name, description, legal_basis,"
                    " dpv_purpose, retired, created_at) VALUES ($1, $2, 'k', 'K', '', 'consent',"
                    " '', false, now())", uuid.uuid4(), a.tenant.id,
                )
            except asyncpg.InsufficientPrivilegeError as exc:
                caught = exc
    finally:
        await conn.close()
    response = to_problem(None, caught)
    assert response.status_code == 404
