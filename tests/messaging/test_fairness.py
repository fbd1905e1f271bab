"""Issue 13 §1 (fairness) and issue 14 §2.2 (per-tenant claims): a 20,000-row
import once queued 20,000 webhooks and a double-opt-in e-mail waited ~97 s
behind them. Now one tenant's backlog gets one turn per pass like everybody
else, and transactional mail has a lane of its own that never waits behind
bulk work — not even the same tenant's."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid

from messaging import store
from messaging.outbox import OutboxWorker, enqueue_email
from optinbase import db
from tests.factories import make_tenant
from tests.messaging.receiver import Receiver
from tests.messaging.scenes import ask_confirmation, backlog, forget, outbox
from tests.messaging.smtp import SmtpServer

SENDER = "Optinbase <no-reply@example.org>"


async def _endpoint(client, tenant, url: str) -> uuid.UUID:
    answer = await client.post("/v1/webhooks", headers=tenant.headers,
                               json={"url": url, "events": ["contact.erased"]})
    assert answer.status_code == 201, answer.text
    return uuid.UUID(answer.json()["id"])


async def test_a_20000_row_backlog_does_not_delay_another_tenants_confirmation(private_client):
    client = private_client
    receiver = Receiver().start()
    smtp = SmtpServer().start()
    worker = OutboxWorker(smtp.url, SENDER, allow_private=True)
    busy = await make_tenant()
    try:
        endpoint = await _endpoint(client, busy, receiver.url)
        await backlog(busy, 20_000, receiver.url, endpoint)
        waiting = await make_tenant()
        person = await ask_confirmation(client, waiting)
        # Same class as the backlog (standard): served by the round robin alone.
        other = await make_tenant()
        async with db.tenant_transaction(other.id):
            await enqueue_email(other.id, to="standard@example.com", subject="Hi", text="Hi")

        started = time.monotonic()
        delivered = await worker.run_once()  # ONE pass
        elapsed = time.monotonic() - started
    finally:
        await worker.close()
        smtp.stop()
        receiver.stop()
        await forget(busy)
    to = [r.rcpt_tos[0] for r in smtp.received]
    assert person["email"] in to and "standard@example.com" in to
    assert len(receiver.requests) == worker.batch  # the backlog had one turn, like the others
    assert delivered >= 2 + worker.batch  # (other tests' tenants may have had theirs too)
    assert {r["status"] for r in await outbox(waiting)} == {"sent"}
    print(f"one pass with a 20,000-row backlog: {elapsed:.2f} s")


async def test_transactional_mail_never_waits_behind_bulk_work(private_client):
    """A slow integrator keeps the worker's main lane busy with the tenant's
    own webhooks; the tenant's double-opt-in confirmation still leaves within
    about a poll interval, through the transactional lane."""
    client = private_client
    receiver = Receiver(delay=0.3).start()
    smtp = SmtpServer().start()
    # A one-second slice: the main lane still never leaves the backlog (pass after
    # pass), and stopping waits for one slice of sending, not the default ten.
    worker = OutboxWorker(smtp.url, SENDER, poll_seconds=0.1, slice_seconds=1.0,
                          allow_private=True)
    stop = asyncio.Event()
    tenant = await make_tenant()
    try:
        endpoint = await _endpoint(client, tenant, receiver.url)
        await backlog(tenant, 200, receiver.url, endpoint)  # ≥ 60 s of sending
        running = asyncio.create_task(worker.run_forever(stop))
        while not receiver.requests:  # the main lane is on the backlog
            await asyncio.sleep(0.05)
        queued = time.monotonic()
        person = await ask_confirmation(client, tenant)
        while not smtp.received and time.monotonic() - queued < 20:
            await asyncio.sleep(0.05)
        latency = time.monotonic() - queued
        stop.set()
        await running
    finally:
        smtp.stop()
        receiver.stop()
        await forget(tenant)
    # The worker also delivers what other tests left due: this tenant's mail is one.
    assert [r.rcpt_tos for r in smtp.received].count([person["email"]]) == 1
    assert latency < 3, latency
    assert len(receiver.requests) < 100  # the backlog was still being worked through
    print(f"confirmation behind the same tenant's busy backlog: {latency:.2f} s")


async def test_tenants_take_turns(private_client):
    client = private_client
    receiver = Receiver().start()
    worker = OutboxWorker("", SENDER, allow_private=True, batch=1)
    paths = {}
    try:
        for name in ("a", "b", "c"):
            tenant = await make_tenant()
            url = f"{receiver.url}/{name}"
            await backlog(tenant, 5, url, await _endpoint(client, tenant, url))
            paths[f"/hooks/{name}"] = tenant.id
        passes = []
        for _ in range(3):
            before = len(receiver.requests)
            await worker.run_once()
            passes.append([paths[p] for p, _, _ in receiver.requests[before:] if p in paths])
    finally:
        await worker.close()
        receiver.stop()
        await forget(*paths.values())
    for served in passes:  # every pass: each tenant once (other tests' tenants may be due too)
        assert sorted(served) == sorted(paths.values())


def test_the_first_turn_rotates():
    """Within a priority class, the tenant after last pass's first goes first."""
    worker = OutboxWorker("", SENDER)
    t1, t2, t3 = sorted(uuid.uuid4() for _ in range(3))
    due = [(t3, 1), (t1, 1), (t2, 1)]
    assert worker._round_robin(due) == [t1, t2, t3]
    assert worker._round_robin(due) == [t2, t3, t1]
    assert worker._round_robin(due) == [t3, t1, t2]
    assert worker._round_robin(due) == [t1, t2, t3]
    assert worker._round_robin([(t3, 1), (t2, 2), (t1, 0)])[0] == t1  # classes first


async def test_due_tenants_name_only_tenants_and_their_best_class(backend):
    busy, idle = await make_tenant(), await make_tenant()
    async with db.tenant_transaction(busy.id):
        await enqueue_email(busy.id, to="bulk@example.com", subject="B", text="B",
                            priority=store.BULK)
        await enqueue_email(busy.id, to="now@example.com", subject="N", text="N",
                            priority=store.TRANSACTIONAL)
    now = dt.datetime.now(dt.timezone.utc)
    due = dict(await store.due_tenants(now, store.BULK))
    assert due[busy.id] == store.TRANSACTIONAL and idle.id not in due
    only_transactional = dict(await store.due_tenants(now, store.TRANSACTIONAL))
    assert only_transactional[busy.id] == store.TRANSACTIONAL
