"""Outbox fairness and throughput: how long mail waits behind another tenant's
(or its own tenant's) 20,000-row backlog, and how fast webhooks leave, one
change per POST or batched (a real 20,000-row import's).

A real worker (`OutboxWorker.run_forever`: the main lane and the transactional
lane) delivers to a real SMTP server (aiosmtpd) and a real HTTP receiver on
loopback (so WEBHOOK_ALLOW_PRIVATE is on for this run). The issue's anchor: a
double-opt-in e-mail waited ~97 s behind 20,000 webhooks queued by an import.

    .venv/bin/python bench/outbox.py                      # a fresh SQLite file
    DATABASE_URL=postgresql://optinbase_app@127.0.0.1:5432/DB \\
    DATABASE_OWNER_URL=postgresql://optinbase_owner@127.0.0.1:5432/DB \\
      .venv/bin/python bench/outbox.py                    # a prepared, EMPTY database
      (scripts/prepare-postgres.sh DB first: the schema is dropped and migrated)

Options: --backlog N (20000), --samples N (5). Prints a table and a JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]
os.environ.setdefault("ARGON2_PROFILE", "owasp-minimum")

SENDER = "Bench <bench@example.org>"


def _log(message: str) -> None:
    print(f"[bench outbox {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


async def _database() -> str:
    from optinbase import db, schema

    url = os.environ.get("DATABASE_URL") or f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3"
    owner_url = os.environ.get("DATABASE_OWNER_URL") or url
    owner = db.engine_from_url(owner_url)
    db.use_engine(owner)
    if url.startswith("postgres"):
        await owner.run_ddl("DROP SCHEMA IF EXISTS public CASCADE")
        await owner.run_ddl("CREATE SCHEMA public")
    app_role = urlparse(url).username
    # Migrations, then sql/grants.sql for the application role (as `optinbase migrate`).
    await schema.migrate(app_role if app_role != urlparse(owner_url).username else None)
    return url


async def _tenant(slug: str) -> uuid.UUID:
    from tenants import service

    return (await service.create_tenant(slug, slug.title())).id


async def _endpoint(tenant_id: uuid.UUID, url: str) -> uuid.UUID:
    from messaging import webhooks
    from optinbase import db

    async with db.tenant_transaction(tenant_id):
        out = await webhooks.create_endpoint(
            tenant_id, webhooks.WebhookIn(url=url, events=["consent.changed"]), allow_private=True)
    return out.id


async def _imported(tenant_id: uuid.UUID, count: int) -> float:
    """A real import of `count` new people with one e-mail grant each, through
    `consent.imports` (the code `POST /v1/imports` and `optinbase import` run),
    which queues its webhooks in batches (`notify.grants_imported`). Returns
    the time the import took, to its commit."""
    from consent.imports import jobs, parse
    from optinbase import db
    from optinbase.context import TenantContext
    from tenants import repository

    sys.path.insert(0, str(ROOT / "bench"))
    from imports import _catalog, make_csv  # the import benchmark's file and catalogue

    tenant = await repository.tenant_by_id(tenant_id)
    ctx = TenantContext.for_operator(tenant, "bench-outbox")
    body = make_csv(count, await _catalog(ctx))
    started = time.monotonic()
    async with db.tenant_transaction(tenant_id):
        _, report = await jobs.import_now(ctx, parse.scan(body, "csv"))
    assert report.created == count and report.rejected == 0, report
    return time.monotonic() - started


async def _latency(smtp, tenant_id: uuid.UUID, priority: int, label: str) -> float:
    from messaging.outbox import enqueue_email
    from optinbase import db

    to = f"{label}-{uuid.uuid4().hex[:8]}@example.com"
    async with db.tenant_transaction(tenant_id):
        await enqueue_email(tenant_id, to=to, subject="Confirmez", text="Lien", priority=priority)
    queued = time.monotonic()
    while not any(r.rcpt_tos == [to] for r in smtp.received):
        if time.monotonic() - queued > 300:
            raise RuntimeError(f"{label}: not delivered within 300 s")
        await asyncio.sleep(0.005)
    return time.monotonic() - queued


async def main(backlog: int, samples: int) -> dict:
    from messaging.outbox import STANDARD, TRANSACTIONAL, OutboxWorker
    from optinbase import db
    from tests.messaging import scenes
    from tests.messaging.receiver import Receiver
    from tests.messaging.smtp import SmtpServer

    url = await _database()
    engine = "postgres" if url.startswith("postgres") else "sqlite"
    busy, other = await _tenant("busy"), await _tenant("other")
    db.use_engine(db.engine_from_url(url))  # the application role from here on
    await db.start(max_size=5)
    smtp, receiver = SmtpServer().start(), Receiver().start()
    endpoint = await _endpoint(busy, receiver.url)
    await scenes.backlog(busy, backlog, receiver.url, endpoint)
    _log(f"{engine}: {backlog} single webhook deliveries queued for tenant 'busy'")
    worker = OutboxWorker(smtp.url, SENDER, poll_seconds=0.2, allow_private=True)
    stop = asyncio.Event()
    started = time.monotonic()
    running = asyncio.create_task(worker.run_forever(stop))
    results: dict = {"engine": engine, "backlog": backlog}
    try:
        while len(receiver.requests) < 200:
            await asyncio.sleep(0.01)
        for label, tenant, priority in (
            ("other tenant, confirmation (transactional)", other, TRANSACTIONAL),
            ("other tenant, standard e-mail (round robin)", other, STANDARD),
            ("same tenant, confirmation (transactional)", busy, TRANSACTIONAL),
        ):
            waits = [await _latency(smtp, tenant, priority, label.split(",")[0].replace(" ", "-"))
                     for _ in range(samples)]
            results[label] = {"median_s": round(statistics.median(waits), 3),
                              "max_s": round(max(waits), 3),
                              "backlog_left": backlog - len(receiver.requests)}
            _log(f"{label}: median {statistics.median(waits):.3f} s, max {max(waits):.3f} s")
        while len(receiver.requests) < backlog:
            await asyncio.sleep(0.05)
        elapsed = time.monotonic() - started
        results["singles"] = {"posts": backlog, "seconds": round(elapsed, 2),
                              "events_per_s": round(backlog / elapsed)}
        _log(f"{backlog} single deliveries in {elapsed:.1f} s")
        before = len(receiver.requests)
        import_s = await _imported(busy, backlog)
        _log(f"a {backlog}-row import (new people, one e-mail grant each) in {import_s:.1f} s")
        started = time.monotonic()
        seen, delivered = before, 0
        while delivered < backlog:  # each body read once: the receiver shares this loop
            for _, _, body in receiver.requests[seen:]:
                delivered += len(json.loads(body).get("events", []))
                seen += 1
            await asyncio.sleep(0.02)
        elapsed = time.monotonic() - started
        posts = len(receiver.requests) - before
        results["batched"] = {"posts": posts, "import_s": round(import_s, 2),
                              "seconds": round(elapsed, 2),
                              "events_per_s": round(backlog / elapsed)}
        _log(f"its {backlog} consent.changed events as {posts} batched deliveries,"
             f" {elapsed:.2f} s after its commit")
    finally:
        stop.set()
        await running
        smtp.stop()
        receiver.stop()
        await db.stop()
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backlog", type=int, default=20_000)
    parser.add_argument("--samples", type=int, default=5)
    args = parser.parse_args()
    summary = asyncio.run(main(args.backlog, args.samples))
    print(json.dumps(summary))
