"""How an import sends rows under ids it drew (optinbase.bulk.new_rows): a
plain INSERT … SELECT on PostgreSQL — a conflict clause there cost each row
a probe of the primary key for nothing — and, on Citus, one with `ON
CONFLICT (tenant_id, id) DO NOTHING`, without which Citus runs an INSERT …
SELECT as COPY, refused under row-level security. Both forms run here on
PostgreSQL, the Citus one with the coordinator's transaction settings too
(`db.is_citus`), and leave the same contacts, ledger and change feed."""

from __future__ import annotations

import re

import pytest

from optinbase import db
from optinbase.cursors import encode_int
from tests import databases
from tests.consent.imports.test_chunked import (
    HEADER, WHEN, _duplicated_grants, _feed_numbers, _import_lines, _verified,
)
from tests.consent.imports.test_cli_import import CHUNK_ROWS, tenant_counts
from tests.factories import make_tenant, make_world
from tests.messaging.test_webhooks import _body, _endpoint, _rows

WRITTEN = ("contact", "consent_state", "consent_event", "change_log")
# (on PostgreSQL the events' statement moves the chain head too: chain.EVENTS_AND_HEAD)
_INSERT_SELECT = re.compile(
    rf"(?:WITH head AS \(UPDATE ledger_head [^)]*\) )?INSERT INTO ({'|'.join(WRITTEN)}) \([^)]*\) SELECT ")


@pytest.mark.parametrize("citus", [False, True], ids=["postgres-forms", "citus-forms"])
async def test_an_import_sends_its_new_rows_in_the_form_its_database_routes(
        client, backend, monkeypatch, citus):
    if backend != "postgres":
        pytest.skip("SQLite takes an import's rows one execution at a time")
    databases.in_forms_of(monkeypatch, citus, "forms (COPY under RLS)")
    sent: list[str] = []
    statement, compile_sql = db._statement, db.compile_sql

    def spied_statement(text, *rest):
        sent.append(" ".join(text.split()))
        return statement(text, *rest)

    def spied_compile(text, engine_type):
        sent.append(" ".join(text.split()))
        return compile_sql(text, engine_type)

    monkeypatch.setattr(db, "_statement", spied_statement)
    monkeypatch.setattr(db, "compile_sql", spied_compile)
    world = await make_world(await make_tenant())
    notice, later = world.notice["id"], "2026-01-16T10:00:00Z"
    # Two chunks of new people, then one naming stored people (the upserts).
    lines = [HEADER] + [f"n{i}@example.com,,N{i},email,newsletter,{notice},{WHEN}\n"
                        for i in range(2 * CHUNK_ROWS)]
    lines += [f"n{i}@example.com,,M{i},email,newsletter,{notice},{later}\n" for i in range(3)]
    report = await _import_lines(world, lines)
    assert (report.created, report.updated, report.rejected) == (2 * CHUNK_ROWS, 3, 0)

    inserts = [text for text in sent if _INSERT_SELECT.match(text)]
    assert {_INSERT_SELECT.match(text)[1] for text in inserts} == set(WRITTEN)
    if citus:  # none would run as COPY
        assert [text for text in inserts if " ON CONFLICT " not in text] == []
        # Citus refuses a volatile function in RETURNING (write.Writer.plan).
        assert [text for text in sent if re.search(r" RETURNING .*set_config\(", text)] == []
    else:  # the new people's rows: no conflict clause into any of the four
        assert {_INSERT_SELECT.match(text)[1] for text in inserts
                if " ON CONFLICT " not in text} == set(WRITTEN)
    contacts, events, _ = await tenant_counts(world.tenant.id)
    assert (contacts, events) == (1 + 2 * CHUNK_ROWS, 1 + 2 * CHUNK_ROWS + 3)
    assert await _verified(client, world.tenant) == 1 + 2 * CHUNK_ROWS + 3
    assert await _duplicated_grants(world.tenant.id) == 0
    changes, numbers, last = await _feed_numbers(world.tenant.id)
    assert changes == numbers == last == 1 + 2 * CHUNK_ROWS + 3


async def test_a_person_named_again_in_a_chunk_of_new_people_has_one_change(client, backend):
    """In a chunk of new people, the feed gets one change per consent state
    — the event the state follows, not an earlier grant of the same person
    in the same chunk — numbered in ledger order with no gap (on PostgreSQL
    written by the events' own statement, write._EVENTS_HEAD_AND_FEED), and
    the chunk's webhook events carry those numbers' cursors."""
    world = await make_world(await make_tenant())
    await _endpoint(client, world.tenant, "https://crm.example/hooks")
    notice = world.notice["id"]
    rows = [("a", "2026-01-15T10:00:00Z"), ("b", WHEN), ("a", "2026-01-16T10:00:00Z"),
            ("c", WHEN), ("a", "2026-01-14T10:00:00Z")]
    report = await _import_lines(world, [HEADER] + [
        f"{who}-twice@example.com,,{who.upper()},email,newsletter,{notice},{at}\n" for who, at in rows])
    assert (report.created, report.updated, report.rejected) == (3, 2, 0)
    async with db.tenant_transaction(world.tenant.id, write=False):
        feed = await db.fetch(
            "SELECT f.seq, f.event_id, c.email FROM change_log f JOIN contact c"
            " ON c.tenant_id = f.tenant_id AND c.id = f.contact_id"
            " WHERE f.tenant_id = {} AND c.email LIKE '%-twice@example.com' ORDER BY f.seq",
            world.tenant.id)
        states = {r["email"]: r["event_id"] for r in await db.fetch(
            "SELECT s.event_id, c.email FROM consent_state s JOIN contact c"
            " ON c.tenant_id = s.tenant_id AND c.id = s.contact_id"
            " WHERE s.tenant_id = {} AND c.email LIKE '%-twice@example.com'", world.tenant.id)}
        ledger = [r["id"] for r in await db.fetch(
            "SELECT id FROM consent_event WHERE tenant_id = {} ORDER BY seq", world.tenant.id)]
    # b, then a's latest grant (the third row), then c: the ledger's order
    assert [r["email"][0] for r in feed] == ["b", "a", "c"]
    assert {r["email"]: r["event_id"] for r in feed} == states
    assert [r["event_id"] for r in feed] == [e for e in ledger if e in set(states.values())]
    changes, numbers, last = await _feed_numbers(world.tenant.id)
    assert changes == numbers == last == 1 + 3
    assert [r["seq"] for r in feed] == [2, 3, 4]
    assert await _verified(client, world.tenant) == 1 + 5
    [batch] = [_body(row) for row in await _rows(world.tenant)]
    cursors = {e["data"]["event_id"]: e["data"]["cursor"] for e in batch["events"]}
    assert len(cursors) == 5  # every grant is told, the superseded ones without a cursor
    assert {event: cursor for event, cursor in cursors.items() if cursor} == {
        str(r["event_id"]): encode_int(r["seq"]) for r in feed}
