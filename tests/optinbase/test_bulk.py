"""Rows sent as column arrays (optinbase.bulk): the statements imports and the
change feed write with, and the rules they keep (tests/statement_guard.py)."""

import uuid

import pytest

from consent import changes
from consent.imports import runner, write
from consent.ledger import chain
from optinbase import bulk, db
from tests import databases
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


IMPORT_STATEMENTS = {name: statement for name, statement in write.SQL["postgres"].items()
                     if not isinstance(statement, list)}


@pytest.fixture
def on_citus(monkeypatch):
    """Statements as sent to a Citus coordinator (bulk.new_rows)."""
    databases.forms_of(monkeypatch, True)


@pytest.fixture
def on_postgresql(monkeypatch):
    """Statements as sent to PostgreSQL, whatever database the suite runs on
    (CITUS_URL: a coordinator). These tests read the texts only."""
    databases.forms_of(monkeypatch, False)


def _texts(statement) -> list[str]:
    return list(statement.forms) if hasattr(statement, "forms") else [statement]


@pytest.mark.parametrize("name", IMPORT_STATEMENTS)
def test_import_statements_route_to_one_tenant(name, on_citus):
    """Each names its tenant as a plain parameter, none reads a temporary
    table, and every INSERT has a conflict clause on Citus (which runs an
    INSERT … SELECT from a temporary table, or without such a clause, as
    COPY, refused under RLS)."""
    for text in _texts(IMPORT_STATEMENTS[name]):
        sql = db.compile_sql(text, "postgres")
        assert violations(sql, [TENANT] * sql.count("$")) == []
        assert "(SELECT $" not in sql and "import_" not in sql
        if sql.startswith("INSERT"):
            assert " ON CONFLICT " in sql


def test_new_rows_go_in_without_a_conflict_clause_on_postgresql(on_postgresql):
    """Rows under ids drawn for them: the clause would cost each row a probe
    of the primary key on PostgreSQL, for a conflict that cannot be."""
    for name in ("new_contacts", "new_states", "events"):
        for text in _texts(IMPORT_STATEMENTS[name]):
            assert text.startswith("INSERT") and " ON CONFLICT " not in text
    for statement in (changes._INSERT_BULK, changes._IMPORTED):
        assert [" ON CONFLICT " in text for text in statement.forms] == [False, False]


@pytest.mark.parametrize("statement", [changes._INSERT_BULK, changes._IMPORTED])
def test_change_feed_insert_routes_to_one_tenant(statement, on_citus):
    for text in statement.forms:
        sql = db.compile_sql(text, "postgres")
        assert violations(sql, [TENANT] * sql.count("$")) == []
        assert violations(sql.replace("SELECT s.id, $1", "SELECT s.id, s.tenant_id"), []) != []
        assert sql.endswith(bulk.ROUTED)


async def test_an_imported_event_record_is_a_row_of_the_ledger_table(backend, monkeypatch):
    """The ledger sends its sealed events as they are, one array of
    consent_event records (chain.EVENTS: an import's chunk, every consent
    change on PostgreSQL): a record is the table's row type, filled by
    position, so the ledger's column order must be EVENT_COLUMNS'. A column
    added to the table, or moved, fails here; and a database laid out
    otherwise is refused by the ledger itself (chain.check_event_records)
    before a column could land in another's place."""
    if backend != "postgres":
        pytest.skip("row types are PostgreSQL's")
    names = await db.fetch(chain._RECORD_ORDER)
    assert tuple(r["attname"] for r in names) == chain.EVENT_COLUMNS
    monkeypatch.setattr(chain, "_records_checked", [])
    await chain.check_event_records()
    swapped = list(chain.EVENT_COLUMNS)
    at = swapped.index("collected_at")
    swapped[at], swapped[at + 1] = swapped[at + 1], swapped[at]
    monkeypatch.setattr(chain, "EVENT_COLUMNS", tuple(swapped))
    with pytest.raises(RuntimeError, match="not in the order"):
        await chain.check_event_records()


def test_joined_form_takes_text_columns_as_one_text_each():
    sql, staged = bulk.select(("id", "tenant_id", "email", "seq"), {"tenant_id": "{}"}, joined=True)
    assert sql == ("SELECT s.id, {}, s.email, s.seq FROM unnest({}::uuid[],"
                   " string_to_array({}::text, chr(31), chr(30)), {}::bigint[]) AS s(id, email, seq)")
    assert bulk.text_positions(("id", "tenant_id", "email", "seq"), staged) == [1]
    assert bulk.joined(["a", None, "", "b"]) == "a\x1f\x1e\x1f\x1fb"
    assert bulk.joined([]) == ""
    # What string_to_array cannot give back: the plain arrays go instead.
    for values in (["a\x1fb"], ["\x1e"], ["x", "a\x1eb"], [""], [1]):
        assert bulk.joined(values) is None
    assert bulk.joined_args([(1, "a\x1f"), (2, "b")], [0, 1], [1]) == (False, [[1, 2], ["a\x1f", "b"]])
    assert bulk.joined_args([(1, "a"), (2, None)], [0, 1], [1]) == (True, [[1, 2], "a\x1f\x1e"])


# Every shape of column string_to_array must give back as sent, beside ones it cannot.
COLUMNS = [
    [], [""], [None], ["", ""], [None, None], ["a", None, "", "b"], ["é\n\"'\\{},NULL", "  "],
    ["a\x1fb", "c"], ["\x1e"], ["x\x1e", None],
]


@pytest.mark.parametrize("values", COLUMNS)
async def test_joined_and_plain_forms_give_the_same_rows(backend, values):
    if backend != "postgres":
        pytest.skip("string_to_array is PostgreSQL's")
    ids = list(range(len(values)))
    joined, args = bulk.joined_args(list(zip(ids, values)), [0, 1], [1])
    assert joined == (bulk.joined(values) is not None)
    source = bulk.unnest([("n", "bigint"), ("v", "text")], joined=joined)
    rows = await db.fetch(f"SELECT n, v FROM {source} ORDER BY n", *args)
    assert [(r["n"], r["v"]) for r in rows] == list(zip(ids, values))


def _chunk_statements() -> list[str]:
    """What a chunk's transaction sends besides write.SQL: the job row's check
    (with or without the progress, the planning settings in its select list or
    RETURNING), the head's lock that takes the feed's numbers, and on
    PostgreSQL (never on Citus) the events' statements that move the head (one
    writing the change feed too)."""
    plan = write.PLAN["postgres"]
    return [runner._CHECK.format(plan) + " FOR UPDATE", runner._ADVANCE_CHECKED + plan,
            runner._ADVANCE, chain._LOCK_AND_TAKE, chain.EVENTS_AND_HEAD,
            write._EVENTS_HEAD_AND_FEED]


@pytest.mark.parametrize("statement", _chunk_statements())
def test_chunk_statements_name_their_tenant(statement):
    sql = db.compile_sql(statement, "postgres")
    assert violations(sql, [TENANT] * sql.count("$")) == []
    assert "(SELECT $" not in sql
