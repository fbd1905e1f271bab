"""Rows sent as column arrays (optinbase.bulk): the statements imports and the
change feed write with, and the rules they keep (tests/statement_guard.py)."""

import uuid

import pytest

from consent import changes
from consent.imports import write
from optinbase import bulk, db
from tests.statement_guard import violations

TENANT = str(uuid.uuid4())


def test_select_puts_constants_in_place_and_arrays_in_order():
    sql, staged = bulk.select(("id", "tenant_id", "external_id", "seq", "attributes", "at"),
                              {"tenant_id": "{}"})
    assert sql == ("SELECT s.id, {}, s.external_id, s.seq, s.attributes::jsonb, s.at FROM"
                   " unnest({}::uuid[], {}::text[], {}::bigint[], {}::text[], {}::timestamptz[])"
                   " AS s(id, external_id, seq, attributes, at)")
    assert staged == [0, 2, 3, 4, 5]
    assert bulk.arrays([(1, "t", "a"), (2, "t", "b")], [0, 2]) == [[1, 2], ["a", "b"]]


@pytest.mark.parametrize("name", ["contacts", "states", "events", "match", "granted"])
def test_import_statements_route_to_one_tenant(name):
    """Each names its tenant as a plain parameter, and none reads a temporary
    table (Citus runs INSERT … SELECT from one as COPY, refused under RLS)."""
    sql = db.compile_sql(write.SQL["postgres"][name], "postgres")
    assert violations(sql, [TENANT] * sql.count("$")) == []
    assert "(SELECT $" not in sql and "import_" not in sql
    if sql.startswith("INSERT"):
        assert " ON CONFLICT " in sql


def test_change_feed_insert_routes_to_one_tenant():
    sql = db.compile_sql(changes._INSERT_ARRAYS, "postgres")
    assert violations(sql, [TENANT] * sql.count("$")) == []
    assert violations(sql.replace("SELECT s.id, $1", "SELECT s.id, s.tenant_id"), []) != []
