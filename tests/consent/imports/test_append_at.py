"""A chunk of new people takes the chain head in the statement that writes
its ledger events and change-feed entries (write.Writer._append_at,
PostgreSQL off Citus): from where its events were sealed, or not at all — a
statement sent while another writer holds or has moved the head must neither
append after the wrong event nor take feed numbers (the chunk then goes the
long way: tests/consent/imports/test_chunked.py)."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from consent.imports import write
from consent.ledger import chain
from optinbase import db
from tests import databases
from tests.factories import context, make_tenant, make_world

_NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.timezone.utc)


async def _state(tenant_id) -> tuple[int, int, int, int, str]:
    """(events, feed entries, last feed number, head seq, head hash) of the tenant."""
    counted = [int(await db.fetchval(f"SELECT count(*) FROM {table} WHERE tenant_id = {{}}",
                                     tenant_id)) for table in ("consent_event", "change_log")]
    head = await db.fetchrow("SELECT seq, hash, change_seq FROM ledger_head WHERE tenant_id = {}",
                             tenant_id)
    return (*counted, int(head["change_seq"]), int(head["seq"]), head["hash"])


async def test_a_chunk_takes_the_head_only_from_where_it_was_sealed(client, backend):
    if backend != "postgres" or databases.CITUS_URL:
        pytest.skip("one statement under the head's row lock is PostgreSQL's, not Citus's")
    world = await make_world(await make_tenant())
    tenant_id = world.tenant.id
    writer = write.Writer(context(world.tenant), "csv", {})
    digested = chain.digested([chain.NewEvent(
        tenant_id=tenant_id, contact_id=uuid.UUID(world.contact["id"]), channel="email",
        purpose_id=uuid.UUID(world.purpose["id"]), action="granted", method="import",
        collected_at=_NOW - dt.timedelta(days=days), recorded_at=_NOW,
        notice_id=uuid.UUID(world.notice["id"])) for days in (3, 2, 1)])
    leading = digested[-1][chain.EVENT_COLUMNS.index("id")]  # the grant the state follows
    async with db.tenant_transaction(tenant_id):
        before = await _state(tenant_id)
        seq, prev = before[3], before[4]
        # Sealed after an event that is not the head: as if another writer had
        # appended since, or the chunk before had not taken the head yet.
        stale = chain.rechain(digested, seq - 1, "f" * 64)
        assert await writer._append_at(chain.Chain(tenant_id), stale, seq - 1, "f" * 64,
                                       {leading}, _NOW) is None
        assert await _state(tenant_id) == before  # no event, no entry, no number taken

        sealed = chain.rechain(digested, seq, prev)
        ledger = chain.Chain(tenant_id)
        first = await writer._append_at(ledger, sealed, seq, prev, {leading}, _NOW)
        assert first == before[2] + 1
        assert await _state(tenant_id) == (before[0] + 3, before[1] + 1, before[2] + 1,
                                           *chain.end_of(sealed))
        assert (ledger.seq, ledger.prev) == chain.end_of(sealed)
        entry = await db.fetchrow("SELECT seq, kind, status, event_id, at FROM change_log"
                                  " WHERE tenant_id = {} ORDER BY seq DESC LIMIT 1", tenant_id)
        assert (entry["seq"], entry["kind"], entry["status"], entry["event_id"], entry["at"]) == (
            first, "consent", "granted", leading, _NOW)
        # The head is where these events left it: the same statement again
        # (another try of the same chunk) finds it elsewhere and writes nothing.
        after = await _state(tenant_id)
        assert await writer._append_at(chain.Chain(tenant_id), sealed, seq, prev, {leading},
                                       _NOW) is None
        assert await _state(tenant_id) == after
    verify = (await client.get("/v1/ledger/verify", headers=world.tenant.headers)).json()
    assert verify["ok"] and verify["events"] == before[0] + 3, verify
