"""Rows decoded once (optinbase.rows): what `db.fetch` returns holds Python
values on both engines, also where SQLite loses a column's declared type (an
expression, a CTE, a UNION) and where asyncpg hands JSON over as text."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from piccolo.conf.apps import Finder

from optinbase import db, rows
from tests import factories

_THROUGH_EXPRESSIONS = (
    "WITH picked AS (SELECT id, created_at, attributes FROM contact WHERE tenant_id = {})"
    " SELECT COALESCE(id, id) AS id, MAX(created_at) AS created_at, attributes"
    " FROM picked GROUP BY id, attributes"
)


async def test_uuid_time_and_json_come_back_as_python_values(backend):
    tenant = await factories.make_tenant()
    made = await factories.make_contact(tenant, email="rows@example.com",
                                        attributes={"interest": "running", "n": 3})
    async with db.tenant_transaction(tenant.id, write=False):
        [row] = await db.fetch(_THROUGH_EXPRESSIONS, tenant.id)
        direct = await db.fetchrow(
            "SELECT id, tenant_id, created_at, attributes FROM contact WHERE tenant_id = {}",
            tenant.id)
    for found in (row, direct):
        assert found["id"] == uuid.UUID(made["id"]) and isinstance(found["id"], uuid.UUID)
        assert isinstance(found["created_at"], dt.datetime)
        assert found["created_at"].utcoffset() == dt.timedelta(0)
        assert found["attributes"] == {"interest": "running", "n": 3}
    assert direct["tenant_id"] == tenant.id


async def test_undecoded_rows_keep_the_drivers_text(backend):
    tenant = await factories.make_tenant()
    await factories.make_contact(tenant, email="raw@example.com", attributes={"a": 1})
    async with db.tenant_transaction(tenant.id, write=False):
        [row] = await db.fetch_undecoded(
            "SELECT attributes FROM contact WHERE tenant_id = {}", tenant.id)
    assert isinstance(row["attributes"], str)


def test_no_column_name_means_two_things():
    """A name that is JSON in one table and a timestamp or text in another
    would be left undecoded, and a query relying on it would get text on one
    engine: the tables must not disagree (only `id` may be an integer, for
    Piccolo's own user table, since only uuid-shaped text is converted)."""
    seen: dict[str, set[str]] = {}
    for table in Finder().get_table_classes():
        for column in table._meta.columns:
            seen.setdefault(column._meta.db_column_name, set()).add(rows._kind(column))
    clashes = {name: kinds for name, kinds in seen.items()
               if len(kinds) > 1 and kinds != {"uuid", "other"}}
    assert clashes == {}
    assert rows.kinds()["id"] == "uuid" and rows.kinds()["attributes"] == "json"


def test_text_that_only_looks_alike_is_left_alone():
    [row] = rows.decode([{"id": "not-a-uuid", "external_id": "0b9f1c7e-5d2a-4c8e-9a51-3f0e6b7d2c11"}],
                        "sqlite")
    assert row == {"id": "not-a-uuid", "external_id": "0b9f1c7e-5d2a-4c8e-9a51-3f0e6b7d2c11"}


async def test_named_placeholders_bind_by_name_and_may_repeat(backend):
    tenant = await factories.make_tenant()
    made = await factories.make_contact(tenant, email="named@example.com")
    async with db.tenant_transaction(tenant.id, write=False):
        found = await db.fetchval(
            "SELECT id FROM contact WHERE tenant_id = {tenant} AND email = {email}"
            " AND tenant_id = {tenant}", tenant=tenant.id, email="named@example.com")
    assert found == uuid.UUID(made["id"])


def test_a_statement_takes_one_kind_of_placeholder():
    with pytest.raises(ValueError):
        db.compile_sql("SELECT {} + {two}", "postgres")
    assert db.compile_sql("SELECT {a}, {b}, {a}", "postgres") == "SELECT $1, $2, $1"
    assert db.compile_sql("SELECT {a}, {b}, {a}", "sqlite") == "SELECT ?, ?, ?"
