"""What a chunk of an import does while it holds the tenant's chain head
(issue 14 §4): from its lock to its commit the tenant's other writers — a
one-click unsubscribe, a confirmation — and the import's next chunk wait, so
only what needs the head is left there: the events (chained under the lock,
chain.Chain.chain, the head moved and the change feed written by the same
statement on PostgreSQL), the webhook events and the job's progress. What the chunk reads
— who is stored, who subscribes to its webhook events — it reads before."""

from __future__ import annotations

import re

import pytest

from optinbase import db
from tests import databases
from tests.consent.imports.test_chunked import HEADER, WHEN, _import_lines, _verified
from tests.factories import make_tenant, make_world
from tests.messaging.test_webhooks import _body, _endpoint, _rows

_LOCK = re.compile(r"UPDATE ledger_head SET change_seq = change_seq \+")
_FINISHED = re.compile(r"UPDATE import_job SET status = \{\}, created = ")
# The head, the events and their change feed (a chunk of new people): one
# statement on PostgreSQL, three on a Citus coordinator (write._events).
LEDGER = {
    False: (re.compile(r"WITH head AS \(UPDATE ledger_head SET seq = .*"
                       r" feed AS \(INSERT INTO change_log .* INSERT INTO consent_event "),),
    True: (re.compile(r"INSERT INTO consent_event .* ON CONFLICT \(tenant_id, id\) DO NOTHING\Z"),
           re.compile(r"UPDATE ledger_head SET seq = \{\}, hash = \{\} WHERE tenant_id = \{\}\Z"),
           re.compile(r"INSERT INTO change_log ")),
}
AFTER_THE_LEDGER = (
    re.compile(r"INSERT INTO outbox_message "),
    re.compile(r"NOTIFY optinbase_outbox\Z"),  # (the outbox worker wakes at the commit)
    re.compile(r"UPDATE import_job SET status = 'running'"),
)


@pytest.mark.parametrize("citus", [False, True], ids=["postgres-forms", "citus-forms"])
async def test_a_chunk_holds_the_head_only_for_what_needs_it(client, backend, monkeypatch, citus):
    if backend != "postgres":
        pytest.skip("SQLite's write transaction holds the whole file from its first statement")
    databases.in_forms_of(monkeypatch, citus, "forms (COPY under RLS)")
    world = await make_world(await make_tenant())
    await _endpoint(client, world.tenant, "https://crm.example/hooks")
    sent: list[str] = []
    statement, compile_sql = db._statement, db.compile_sql

    def spied(real):
        def sending(text, *rest):
            sent.append(" ".join(text.split()))
            return real(text, *rest)
        return sending

    monkeypatch.setattr(db, "_statement", spied(statement))
    monkeypatch.setattr(db, "compile_sql", spied(compile_sql))
    notice = world.notice["id"]
    report = await _import_lines(world, [HEADER] + [
        f"h{i}@example.com,,H{i},email,newsletter,{notice},{WHEN}\n" for i in range(20)])
    monkeypatch.setattr(db, "_statement", statement)
    monkeypatch.setattr(db, "compile_sql", compile_sql)
    assert report.created == 20
    [lock] = [i for i, text in enumerate(sent) if _LOCK.match(text)]
    # the chunk's commit, then the job's end in a transaction of its own
    [end] = [i for i, text in enumerate(sent) if _FINISHED.match(text)]
    before, under = sent[:lock], sent[lock + 1:end]
    expected = (*LEDGER[citus], *AFTER_THE_LEDGER)
    assert [t for t in under if not any(p.match(t) for p in expected)] == [], under
    # (the progress comes first in a chunk worked out ahead: runner._first)
    assert [sum(1 for t in under if p.match(t)) for p in expected][:-1] == [1] * (len(expected) - 1), under
    assert any(t.startswith("SELECT id, url, events FROM webhook_endpoint") for t in before)
    assert any(t.startswith("SELECT id, key FROM purpose") for t in before)
    assert await _verified(client, world.tenant) == 21
    [row] = await _rows(world.tenant)  # the chunk's webhook events, for the endpoint read before
    assert len(_body(row)["events"]) == 20
