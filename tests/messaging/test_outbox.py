"""The outbox delivers through a real SMTP server, survives its absence, and
lets several workers run without sending a message twice."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from messaging.outbox import MAX_ATTEMPTS, OutboxWorker, enqueue_email
from optinbase import db
from tests.factories import make_tenant
from tests.messaging.smtp import SmtpServer, free_port

SENDER = "Optinbase Test <no-reply@example.org>"


async def _queue(tenant, count: int, prefix: str = "m") -> None:
    async with db.tenant_transaction(tenant.id):
        for i in range(count):
            await enqueue_email(
                tenant.id, to=f"{prefix}{i}@example.com", subject=f"Hello {i}",
                text=f"Confirm: http://127.0.0.1:8000/p/confirm/{i}",
                headers={"List-Unsubscribe": f"<http://127.0.0.1:8000/p/unsubscribe/{i}>",
                         "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
            )


async def _statuses(tenant) -> dict[str, int]:
    async with db.tenant_transaction(tenant.id, write=False):
        rows = await db.fetch(
            "SELECT status, count(*) AS n FROM outbox_message WHERE tenant_id = {} GROUP BY status",
            tenant.id,
        )
    return {r["status"]: int(r["n"]) for r in rows}


@pytest.fixture
def smtp():
    server = SmtpServer().start()
    yield server
    server.stop()


async def _drain(worker: OutboxWorker, now=None) -> int:
    total = 0
    while True:
        sent = await worker.run_once(now)
        total += sent
        if not sent:
            return total


async def test_messages_reach_the_smtp_server_with_their_headers(backend, smtp):
    tenant = await make_tenant()
    await _queue(tenant, 3)
    worker = OutboxWorker(smtp.url, SENDER)
    assert await _drain(worker) >= 3
    mine = [m for m in smtp.messages if m["To"].startswith("m") and "Hello" in m["Subject"]]
    assert sorted(m["To"] for m in mine)[-3:] == ["m0@example.com", "m1@example.com",
                                                  "m2@example.com"]
    first = next(m for m in mine if m["To"] == "m0@example.com")
    assert first["From"] == SENDER
    assert first["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "http://127.0.0.1:8000/p/confirm/0" in first.get_payload()
    assert await _statuses(tenant) == {"sent": 3}


async def test_nothing_is_lost_while_smtp_is_down(backend):
    tenant = await make_tenant()
    port = free_port()
    await _queue(tenant, 4, prefix="down")
    worker = OutboxWorker(f"smtp://127.0.0.1:{port}", SENDER)
    await worker.run_once()  # server not there: every attempt fails
    assert (await _statuses(tenant)).get("pending") == 4
    async with db.tenant_transaction(tenant.id, write=False):
        row = await db.fetchrow(
            "SELECT attempts, last_error, next_attempt_at FROM outbox_message"
            " WHERE tenant_id = {} LIMIT 1", tenant.id,
        )
    assert row["attempts"] == 1 and row["last_error"]
    assert row["next_attempt_at"] > dt.datetime.now(dt.timezone.utc)  # backed off
    assert await worker.run_once() == 0  # not due yet
    server = SmtpServer(port).start()
    try:
        later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=5)
        await _drain(worker, later)
        delivered = sorted(m["To"] for m in server.messages)
    finally:
        server.stop()
    assert delivered == [f"down{i}@example.com" for i in range(4)]
    assert await _statuses(tenant) == {"sent": 4}


async def test_a_message_gives_up_after_the_last_attempt(backend):
    tenant = await make_tenant()
    await _queue(tenant, 1, prefix="dead")
    worker = OutboxWorker(f"smtp://127.0.0.1:{free_port()}", SENDER)
    when = dt.datetime.now(dt.timezone.utc)
    for _ in range(MAX_ATTEMPTS):
        await worker.run_once(when)
        when += dt.timedelta(hours=2)
    assert await _statuses(tenant) == {"dead": 1}


async def test_a_crashed_workers_lease_runs_out(backend, smtp):
    tenant = await make_tenant()
    await _queue(tenant, 2, prefix="lease")
    crashed = OutboxWorker(smtp.url, SENDER)
    now = dt.datetime.now(dt.timezone.utc)
    claimed = await crashed.claim(now)  # claims, then "dies" before sending
    assert len([r for r in claimed if r["tenant_id"] == tenant.id]) == 2
    other = OutboxWorker(smtp.url, SENDER)
    await other.run_once(now)
    assert await _statuses(tenant) == {"sending": 2}  # still leased to the dead worker
    await _drain(other, now + dt.timedelta(minutes=6))
    assert await _statuses(tenant) == {"sent": 2}


async def test_concurrent_workers_never_claim_the_same_message(backend, smtp):
    if backend != "postgres":
        pytest.skip("SKIP LOCKED claims are PostgreSQL's; SQLite serialises writers")
    tenant = await make_tenant()
    await _queue(tenant, 40, prefix="race")
    now = dt.datetime.now(dt.timezone.utc)
    workers = [OutboxWorker(smtp.url, SENDER) for _ in range(4)]
    claims = await asyncio.gather(*(w.claim(now, limit=15) for w in workers))
    ids = [r["id"] for batch in claims for r in batch if r["tenant_id"] == tenant.id]
    assert len(ids) == len(set(ids)) == 40


async def test_outbox_rows_are_tenant_walled(backend):
    a = await make_tenant()
    b = await make_tenant()
    await _queue(a, 2, prefix="walled")
    assert await _statuses(b) == {}
