"""The outbox delivers through a real SMTP server, survives its absence, lets
several workers run without sending a message twice, and keeps one Message-ID
per message across its attempts."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import uuid

import asyncpg
import pytest

from messaging import outbox, store
from messaging.outbox import MAX_ATTEMPTS, OutboxWorker, enqueue_email
from optinbase import db
from tests import databases
from tests.factories import make_tenant
from tests.messaging.smtp import SmtpServer, free_port

SENDER = "Optinbase Test <no-reply@example.org>"


async def _queue(tenant, count: int, prefix: str = "m", **options) -> None:
    async with db.tenant_transaction(tenant.id):
        for i in range(count):
            await enqueue_email(
                tenant.id, to=f"{prefix}{i}@example.com", subject=f"Hello {i}",
                text=f"Confirm: http://127.0.0.1:8000/p/confirm/{i}",
                headers={"List-Unsubscribe": f"<http://127.0.0.1:8000/p/unsubscribe/{i}>",
                         "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}, **options,
            )


def _delivered_to(smtp, prefix: str) -> list[str]:
    """Recipients of this test's messages, by exact address: the workers deliver
    every tenant's outbox, and other tests' bodies may well say "once"."""
    pattern = re.compile(rf"{prefix}\d+@example\.com")
    return sorted(r.rcpt_tos[0] for r in smtp.received if pattern.fullmatch(r.rcpt_tos[0]))


async def _statuses(tenant) -> dict[str, int]:
    async with db.tenant_transaction(tenant.id, write=False):
        rows = await db.fetch(
            "SELECT status, count(*) AS n FROM outbox_message WHERE tenant_id = {} GROUP BY status",
            tenant.id,
        )
    return {r["status"]: int(r["n"]) for r in rows}


async def _rows(tenant) -> list:
    async with db.tenant_transaction(tenant.id, write=False):
        return await db.fetch(
            "SELECT id, recipient, status, attempts, message_id, last_error, next_attempt_at"
            " FROM outbox_message WHERE tenant_id = {} ORDER BY recipient", tenant.id)


async def claim(tenant, now: dt.datetime, limit: int = 50, token: uuid.UUID | None = None):
    """A claim as a worker makes it, in the tenant's transaction."""
    async with db.tenant_transaction(tenant.id):
        return await store.claim(tenant.id, token or uuid.uuid4(), now, now + dt.timedelta(minutes=5),
                                 max_priority=2, limit=limit, max_attempts=MAX_ATTEMPTS,
                                 domain="example.org")


@pytest.fixture
def smtp():
    server = SmtpServer().start()
    yield server
    server.stop()


async def drain(worker: OutboxWorker, now=None) -> int:
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
    assert await drain(worker) >= 3
    mine = [m for m in smtp.messages if m["To"].startswith("m") and "Hello" in m["Subject"]]
    assert sorted(m["To"] for m in mine)[-3:] == ["m0@example.com", "m1@example.com",
                                                  "m2@example.com"]
    first = next(m for m in mine if m["To"] == "m0@example.com")
    assert first["From"] == SENDER
    assert first["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "http://127.0.0.1:8000/p/confirm/0" in first.get_content()
    assert await _statuses(tenant) == {"sent": 3}


async def _arrived(smtp, prefix: str, seconds: float) -> float:
    """Seconds until a message of this test reached the SMTP server (fails after `seconds`)."""
    started = asyncio.get_running_loop().time()
    while not _delivered_to(smtp, prefix):
        assert asyncio.get_running_loop().time() - started < seconds, f"no {prefix} mail"
        await asyncio.sleep(0.02)
    return asyncio.get_running_loop().time() - started


async def test_a_commit_that_queued_mail_wakes_the_resting_worker(backend, smtp):
    """The worker polls every 30 s here, yet a confirmation committed while it
    rests leaves at once; one that rolled back wakes nothing and is never sent."""
    tenant = await make_tenant()
    worker = OutboxWorker(smtp.url, SENDER, poll_seconds=30)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run_forever(stop))
    try:
        await _queue(tenant, 1, prefix="first")
        await _arrived(smtp, "first", seconds=35)  # the first pass, or a wake-up
        await asyncio.sleep(0.5)  # both lanes are resting now
        with pytest.raises(ZeroDivisionError):
            async with db.tenant_transaction(tenant.id):
                await enqueue_email(tenant.id, to="undone0@example.com", subject="No", text="No")
                1 / 0
        await _queue(tenant, 1, prefix="woken")
        waited = await _arrived(smtp, "woken", seconds=5)
    finally:
        stop.set()
        await running
    assert waited < 2, waited
    assert _delivered_to(smtp, "undone") == []
    assert await _statuses(tenant) == {"sent": 2}


_LISTENERS = ("SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
              f" AND query = 'LISTEN \"{store.CHANNEL}\"'")


async def test_a_lost_listening_connection_is_opened_again(backend, monkeypatch):
    """The database cut the worker's LISTEN connection (a restart, a failover):
    it listens again, and a NOTIFY from any process wakes the resting lanes."""
    if backend != "postgres":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's")
    monkeypatch.setattr(outbox, "LISTEN_RETRY_SECONDS", 0.2)
    woken, stop = asyncio.Event(), asyncio.Event()
    store.resting.add(woken)
    # The application role: it sees (and may end) its own sessions' statements.
    app_role = await asyncpg.connect(databases.POSTGRES_URL)
    try:
        others = {r["pid"] for r in await app_role.fetch(_LISTENERS)}  # the session's servers'
        listening = asyncio.create_task(outbox._listen(stop))
        await asyncio.wait_for(woken.wait(), 10)  # listening (it wakes the lanes once)
        [mine] = {r["pid"] for r in await app_role.fetch(_LISTENERS)} - others
        woken.clear()
        assert await app_role.fetchval("SELECT pg_terminate_backend($1::int)", mine)  # (Citus adds an overload)
        await asyncio.wait_for(woken.wait(), 10)  # listening again
        [again] = {r["pid"] for r in await app_role.fetch(_LISTENERS)} - others
        assert again != mine
        woken.clear()
        await app_role.execute(f"NOTIFY {store.CHANNEL}")  # another process's commit
        await asyncio.wait_for(woken.wait(), 10)
        stop.set()
        await asyncio.wait_for(listening, 10)
    finally:
        stop.set()
        store.resting.discard(woken)
        await app_role.close()


async def test_nothing_is_lost_while_smtp_is_down(backend):
    tenant = await make_tenant()
    port = free_port()
    await _queue(tenant, 4, prefix="down")
    worker = OutboxWorker(f"smtp://127.0.0.1:{port}", SENDER)
    await worker.run_once()  # server not there: every attempt fails
    assert (await _statuses(tenant)).get("pending") == 4
    row = (await _rows(tenant))[0]
    assert row["attempts"] == 1 and row["last_error"]
    assert row["next_attempt_at"] > dt.datetime.now(dt.timezone.utc)  # backed off
    assert await worker.run_once() == 0  # not due yet
    server = SmtpServer(port).start()
    try:
        later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=5)
        await drain(worker, later)
        delivered = _delivered_to(server, "down")
    finally:
        server.stop()
    assert delivered == [f"down{i}@example.com" for i in range(4)]
    assert await _statuses(tenant) == {"sent": 4}


async def test_one_message_id_for_every_attempt(backend):
    """The Message-ID is fixed at the first claim and sent unchanged by every
    attempt, so a receiver can recognise a message that comes twice (here a
    greylisting server takes the bytes, answers 451, and gets them again)."""
    tenant = await make_tenant()
    port = free_port()
    await _queue(tenant, 1, prefix="msgid")
    worker = OutboxWorker(f"smtp://127.0.0.1:{port}", SENDER)
    await worker.run_once()  # fails: nobody listens
    [first] = await _rows(tenant)
    assert first["status"] == "pending" and first["message_id"]
    assert first["message_id"] == f"<{first['id']}@example.org>"
    server = SmtpServer(port, answers=["451 4.7.1 greylisted, try again later"]).start()
    try:
        later = dt.datetime.now(dt.timezone.utc)
        for _ in range(3):
            later += dt.timedelta(hours=1)
            await worker.run_once(later)
        raw = [r.raw for r in server.received if r.rcpt_tos == ["msgid0@example.com"]]
    finally:
        server.stop()
    assert len(raw) == 2  # the greylisted attempt, then the accepted one
    assert all(f"\r\nMessage-ID: {first['message_id']}\r\n".encode() in r for r in raw)
    [after] = await _rows(tenant)
    assert (after["status"], after["attempts"], after["message_id"]) == (
        "sent", 3, first["message_id"])


@pytest.mark.parametrize("citus", [False, True], ids=["in-the-claim", "after-the-claim"])
async def test_a_turn_that_cannot_read_what_it_needs_gives_its_rows_back(
        backend, smtp, monkeypatch, citus):
    """The webhook secrets and the tenant's record are read in the claim's
    transaction, or on Citus once the claim has committed (a transaction
    whose shards the owner's claim wrote refuses the application role's
    reads): a failure there must not leave the rows leased with an attempt
    spent — repeated, it would kill a message never sent. Citus's order runs
    here on PostgreSQL too (`db.is_citus`)."""
    if citus and backend != "postgres":
        pytest.skip("the Citus order is PostgreSQL's")
    databases.in_forms_of(monkeypatch, citus, "order (the claim's shards)")
    tenant = await make_tenant()
    await _queue(tenant, 2, prefix="needs")
    real = outbox.repository.tenant_by_id

    async def unreadable(tenant_id):
        if tenant_id == tenant.id:
            raise ConnectionResetError("the connection went away")
        return await real(tenant_id)

    monkeypatch.setattr(outbox.repository, "tenant_by_id", unreadable)
    worker = OutboxWorker(smtp.url, SENDER)
    await worker.run_once()
    assert [(r["status"], r["attempts"]) for r in await _rows(tenant)] == [("pending", 0)] * 2
    monkeypatch.setattr(outbox.repository, "tenant_by_id", real)
    await drain(worker)
    assert _delivered_to(smtp, "needs") == ["needs0@example.com", "needs1@example.com"]


async def test_a_message_gives_up_after_the_last_attempt(backend):
    tenant = await make_tenant()
    await _queue(tenant, 1, prefix="dead")
    worker = OutboxWorker(f"smtp://127.0.0.1:{free_port()}", SENDER)
    when = dt.datetime.now(dt.timezone.utc)
    for _ in range(MAX_ATTEMPTS):
        await worker.run_once(when)
        when += dt.timedelta(hours=2)
    assert await _statuses(tenant) == {"dead": 1}
    [row] = await _rows(tenant)
    assert row["attempts"] == MAX_ATTEMPTS


async def test_claims_never_take_a_row_without_attempts_left(backend, smtp):
    """A row whose lease ran out on its last attempt (the worker died) goes
    dead at the next claim instead of being sent an eleventh time."""
    tenant = await make_tenant()
    await _queue(tenant, 1, prefix="last")
    now = dt.datetime.now(dt.timezone.utc)
    for i in range(MAX_ATTEMPTS):  # ten claims, each "crashing" before any outcome
        assert len(await claim(tenant, now + dt.timedelta(minutes=6 * i))) == 1
    assert await claim(tenant, now + dt.timedelta(hours=2)) == []
    [row] = await _rows(tenant)
    assert (row["status"], row["attempts"]) == ("dead", MAX_ATTEMPTS)
    assert "no attempt left" in row["last_error"]
    await drain(OutboxWorker(smtp.url, SENDER), now + dt.timedelta(hours=3))
    assert [r for r in smtp.received if b"last0@example.com" in r.raw] == []


async def test_a_crashed_workers_lease_runs_out(backend, smtp):
    tenant = await make_tenant()
    await _queue(tenant, 2, prefix="lease")
    now = dt.datetime.now(dt.timezone.utc)
    assert len(await claim(tenant, now)) == 2  # claims, then "dies" before sending
    other = OutboxWorker(smtp.url, SENDER)
    await other.run_once(now)
    assert await _statuses(tenant) == {"sending": 2}  # still leased to the dead worker
    await drain(other, now + dt.timedelta(minutes=6))
    assert await _statuses(tenant) == {"sent": 2}


async def test_a_stolen_lease_never_sends_twice(backend, smtp):
    """Worker A claims a batch, then stalls past its lease (a paused VM, a long
    GC); worker B takes the rows over and sends them. When A wakes up its lease
    may not outlast a send: it asks to extend it, learns that every row is
    leased to another token, and sends and records nothing."""
    tenant = await make_tenant()
    await _queue(tenant, 3, prefix="stolen")
    now = dt.datetime.now(dt.timezone.utc)
    a = OutboxWorker(smtp.url, SENDER)
    turn = await a._claim(tenant.id, lambda: now)
    assert len(turn.rows) == 3
    b = OutboxWorker(smtp.url, SENDER)
    assert await b.run_once(now + dt.timedelta(minutes=6)) >= 3  # the lease ran out: B's now
    assert await a._work(turn, lambda: now + dt.timedelta(minutes=6)) == 0  # A resumes
    async with db.tenant_transaction(tenant.id):  # and cannot overwrite B's outcome either
        assert not await store.record(tenant.id, turn.rows[0]["id"], turn.token, "pending",
                                      error="late")
    assert _delivered_to(smtp, "stolen") == [f"stolen{i}@example.com" for i in range(3)]
    assert await _statuses(tenant) == {"sent": 3}
    assert all(r["last_error"] is None for r in await _rows(tenant))


async def test_a_batch_stays_inside_its_lease(backend, smtp):
    """A batch whose lease may not outlast the next send extends it first, so
    its rows are never taken over while their worker is still on them."""
    tenant = await make_tenant()
    await _queue(tenant, 2, prefix="inside")
    now = dt.datetime.now(dt.timezone.utc)
    a = OutboxWorker(smtp.url, SENDER)
    turn = await a._claim(tenant.id, lambda: now)
    # Four minutes on (the batch was slow): 60 s of send budget + 30 s margin
    # no longer fit in the lease, which is extended to +9 min before sending.
    assert await a._work(turn, lambda: now + dt.timedelta(minutes=4)) == 2
    assert turn.lease_end == now + dt.timedelta(minutes=9)
    assert await claim(tenant, now + dt.timedelta(minutes=6)) == []
    assert await _statuses(tenant) == {"sent": 2}


async def test_a_worker_stops_sending_where_its_lease_was_taken_over(backend, smtp):
    """Half of A's batch taken over while A stalled: A sends the half it still
    holds, B the other half, each message once."""
    tenant = await make_tenant()
    await _queue(tenant, 4, prefix="half")
    now = dt.datetime.now(dt.timezone.utc)
    a = OutboxWorker(smtp.url, SENDER)
    turn = await a._claim(tenant.id, lambda: now)
    b_token = uuid.uuid4()
    later = now + dt.timedelta(minutes=6)
    stolen = await claim(tenant, later, limit=2, token=b_token)  # B takes two of them
    assert len(stolen) == 2
    assert await a._work(turn, lambda: later) == 2
    async with db.tenant_transaction(tenant.id):
        for row in stolen:
            assert await store.record(tenant.id, row["id"], b_token, "sent")
    mine = _delivered_to(smtp, "half")
    assert len(mine) == 2 and not {r["recipient"] for r in stolen} & set(mine)
    assert await _statuses(tenant) == {"sent": 4}


async def test_concurrent_workers_never_claim_the_same_message(backend, smtp):
    if backend != "postgres":
        pytest.skip("SKIP LOCKED claims are PostgreSQL's; SQLite serialises writers")
    tenant = await make_tenant()
    await _queue(tenant, 40, prefix="race")
    now = dt.datetime.now(dt.timezone.utc)
    claims = await asyncio.gather(*(claim(tenant, now, limit=15) for _ in range(4)))
    ids = [r["id"] for batch in claims for r in batch]
    assert len(ids) == len(set(ids)) == 40
    assert all(len(batch) <= 15 for batch in claims)


async def test_a_claim_never_takes_more_than_its_limit(backend):
    """On PostgreSQL `id IN (SELECT … LIMIT n FOR UPDATE SKIP LOCKED)` may run
    the subquery twice and lease more than n rows; the claim picks first."""
    tenant = await make_tenant()
    await _queue(tenant, 12, prefix="limit")
    now = dt.datetime.now(dt.timezone.utc)
    sizes = [len(await claim(tenant, now, limit=2)) for _ in range(7)]
    assert sizes == [2, 2, 2, 2, 2, 2, 0]


async def test_concurrent_workers_deliver_each_message_once(backend, smtp):
    tenant = await make_tenant()
    await _queue(tenant, 30, prefix="once")
    workers = [OutboxWorker(smtp.url, SENDER, batch=5) for _ in range(3)]
    for _ in range(10):
        await asyncio.gather(*(w.run_once() for w in workers))
    mine = _delivered_to(smtp, "once")
    assert mine == sorted(f"once{i}@example.com" for i in range(30))
    assert await _statuses(tenant) == {"sent": 30}


async def test_outbox_rows_are_tenant_walled(backend):
    a = await make_tenant()
    b = await make_tenant()
    await _queue(a, 2, prefix="walled")
    assert await _statuses(b) == {}
    now = dt.datetime.now(dt.timezone.utc)
    assert await claim(b, now) == []  # b's claim never reaches a's rows
    async with db.tenant_transaction(b.id):
        with pytest.raises(RuntimeError):  # nor can it name a's tenant
            await store.claim(a.id, uuid.uuid4(), now, now, max_priority=2, limit=5,
                              max_attempts=MAX_ATTEMPTS, domain="example.org")
    assert await _statuses(a) == {"pending": 2}
