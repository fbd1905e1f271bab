"""The schema keeps the rules Citus needs to shard by tenant (docs/scale-out.md),
read from PostgreSQL's catalog, without Citus in CI:

* a tenant table (a `tenant_id NOT NULL` column: sharded by it) has a primary
  key, and its primary key and every unique key include tenant_id;
* its foreign keys to another tenant table pair tenant_id with tenant_id;
* no foreign key of a tenant table updates in cascade or sets null/default
  the distribution column or a column list on delete;
* no other table (a reference table on Citus) has a foreign key to a tenant table.

A scratch schema of deliberately wrong tables shows the check fails."""

from __future__ import annotations

import re
import uuid

import asyncpg

from tests.statement_guard import TENANT_TABLES

CHECK = """
WITH tenant_table AS (
  SELECT c.oid, c.relname, a.attnum AS tenant_col
    FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
   WHERE c.relnamespace = $1::regnamespace AND c.relkind IN ('r', 'p')
     AND a.attname = 'tenant_id' AND a.attnotnull AND NOT a.attisdropped
)
SELECT t.relname || ': no primary key' FROM tenant_table t
 WHERE NOT EXISTS (SELECT FROM pg_constraint k WHERE k.conrelid = t.oid AND k.contype = 'p')
UNION ALL
SELECT t.relname || ': ' || CASE WHEN i.indisprimary THEN 'primary key ' ELSE 'unique key ' END
       || pg_get_indexdef(i.indexrelid) || ' lacks tenant_id'
  FROM tenant_table t JOIN pg_index i ON i.indrelid = t.oid
 WHERE i.indisunique AND NOT t.tenant_col = ANY(i.indkey::int2[])
UNION ALL
SELECT t.relname || ': ' || k.conname || ' refers to tenant table ' || r.relname
       || ' without pairing tenant_id with tenant_id'
  FROM tenant_table t JOIN pg_constraint k ON k.conrelid = t.oid AND k.contype = 'f'
  JOIN tenant_table r ON r.oid = k.confrelid
 WHERE NOT EXISTS (SELECT FROM unnest(k.conkey, k.confkey) AS p(col, refcol)
                    WHERE p.col = t.tenant_col AND p.refcol = r.tenant_col)
UNION ALL
SELECT t.relname || ': ' || k.conname || ' ' || pg_get_constraintdef(k.oid)
       || ' uses an action Citus refuses'
  FROM tenant_table t JOIN pg_constraint k ON k.conrelid = t.oid AND k.contype = 'f'
 WHERE k.confupdtype IN ('c', 'n', 'd')
    OR (k.confdeltype IN ('n', 'd')
        AND (k.confdelsetcols IS NOT NULL OR t.tenant_col = ANY(k.conkey)))
UNION ALL
SELECT c.relname || ': ' || k.conname || ' refers to tenant table ' || r.relname
       || ' from a table that is not one'
  FROM pg_constraint k JOIN tenant_table r ON r.oid = k.confrelid
  JOIN pg_class c ON c.oid = k.conrelid
 WHERE k.contype = 'f' AND k.conrelid NOT IN (SELECT oid FROM tenant_table)
ORDER BY 1
"""


async def citus_violations(conn: asyncpg.Connection, schema: str) -> list[str]:
    return [row[0] for row in await conn.fetch(CHECK, schema)]



async def test_the_migrated_schema_can_be_sharded_by_tenant(pg_owner):
    assert await citus_violations(pg_owner, "public") == []


async def test_the_statement_guard_knows_every_tenant_table(pg_owner):
    tables = await pg_owner.fetch(
        "SELECT c.relname FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid"
        " WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'"
        " AND a.attname = 'tenant_id' AND a.attnotnull")
    assert {r["relname"] for r in tables} == TENANT_TABLES


async def test_the_owners_functions_are_ones_citus_runs(pg_owner):
    """Seen on a real cluster: a function that sets a row-level-security
    setting with `set_config` sets it on the coordinator only (the shards'
    policies saw no tenant: the outbox's due scan and the gauges counted
    nothing), and a SQL-language function whose statements write with its
    parameters cannot be planned ("use of parameters in SQL functions")."""
    functions = await pg_owner.fetch(
        "SELECT p.proname, l.lanname, p.prosrc FROM pg_proc p JOIN pg_language l"
        " ON l.oid = p.prolang WHERE p.pronamespace = 'public'::regnamespace"
        " AND p.proname LIKE 'optinbase%'")
    assert len(functions) >= 5
    assert [f["proname"] for f in functions if "set_config('app." in f["prosrc"]] == []
    assert [f["proname"] for f in functions if f["lanname"] == "sql"
            and re.search(r"\b(INSERT|UPDATE|DELETE)\b", f["prosrc"], re.I)] == []


WRONG_TABLES = """
CREATE TABLE {s}.tenant (id uuid PRIMARY KEY);
CREATE TABLE {s}.good (tenant_id uuid NOT NULL REFERENCES {s}.tenant (id), id uuid,
                       PRIMARY KEY (tenant_id, id));
CREATE TABLE {s}.keyed_by_id (tenant_id uuid NOT NULL, id uuid PRIMARY KEY, email text UNIQUE);
CREATE TABLE {s}.keyless (tenant_id uuid NOT NULL, id uuid);
CREATE TABLE {s}.bad_refs (
  tenant_id uuid NOT NULL REFERENCES {s}.tenant (id) ON UPDATE CASCADE, id uuid,
  good_id uuid, other_id uuid, PRIMARY KEY (tenant_id, id),
  CONSTRAINT good_link FOREIGN KEY (tenant_id, good_id) REFERENCES {s}.good (tenant_id, id)
    ON DELETE SET NULL (good_id),
  CONSTRAINT single_column FOREIGN KEY (other_id) REFERENCES {s}.keyed_by_id (id));
CREATE TABLE {s}.shared (id uuid PRIMARY KEY, tenant_id uuid, good_id uuid,
  CONSTRAINT into_tenant_table FOREIGN KEY (tenant_id, good_id) REFERENCES {s}.good (tenant_id, id));
"""


async def test_deliberately_wrong_tables_are_named(pg_owner):
    schema = f"citus_rules_{uuid.uuid4().hex[:8]}"
    await pg_owner.execute(f"CREATE SCHEMA {schema}")
    try:
        await pg_owner.execute(WRONG_TABLES.format(s=schema))
        found = await citus_violations(pg_owner, schema)
    finally:
        await pg_owner.execute(f"DROP SCHEMA {schema} CASCADE")
    text = "\n".join(found)
    assert not any(line.startswith("good:") for line in found), text
    expected = [
        "keyed_by_id: primary key CREATE UNIQUE INDEX keyed_by_id_pkey",
        "keyed_by_id: unique key CREATE UNIQUE INDEX keyed_by_id_email_key",
        "keyless: no primary key",
        "bad_refs: single_column refers to tenant table keyed_by_id without pairing",
        "bad_refs: bad_refs_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES",
        "bad_refs: good_link FOREIGN KEY (tenant_id, good_id)",
        "shared: into_tenant_table refers to tenant table good from a table that is not one",
    ]
    for needle in expected:
        assert any(line.startswith(needle) for line in found), f"{needle!r} not in:\n{text}"
    assert "ON UPDATE CASCADE" in text and "ON DELETE SET NULL (good_id)" in text
    assert len(found) == len(expected), text
