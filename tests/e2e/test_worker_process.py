"""`optinbase worker` as a real process delivers what another process queued."""

from __future__ import annotations

import asyncio
import time

import pytest

from messaging.outbox import enqueue_email
from optinbase import db
from tests.factories import make_tenant, unique_slug
from tests.processes import stop


@pytest.fixture
async def anne(engine: str) -> str:
    """A message queued for Anne by this process, as the API process would."""
    acme, anne = await make_tenant(name="Acme"), f"{unique_slug('anne')}@example.org"
    async with db.tenant_transaction(acme.id):
        await enqueue_email(acme.id, to=anne, subject="Bonjour", text="Salut")
    return anne


def test_worker_command_delivers_the_outbox(installation, smtp, anne):
    installation.env.update(SMTP_URL=smtp.url, MAIL_FROM="Acme <news@acme.example>")
    with installation.process("worker", "--poll", "0.2", log="worker.log") as worker:
        deadline = time.monotonic() + 20
        while not [m for m in smtp.messages if m["To"] == anne] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert stop(worker) == 0  # SIGTERM stops it cleanly
    [message] = [m for m in smtp.messages if m["To"] == anne]
    assert message["To"] == anne
    assert message["From"] == "Acme <news@acme.example>"
    assert message["Subject"] == "Bonjour"


async def test_a_resting_worker_process_is_woken_by_a_commit_elsewhere(installation, smtp, engine):
    """It polls every 30 s here, yet a message another process commits leaves
    at once: the commit's NOTIFY wakes it (PostgreSQL's LISTEN/NOTIFY)."""
    if engine != "postgres":
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's; on SQLite a worker process polls")
    acme, bea = await make_tenant(name="Acme"), f"{unique_slug('bea')}@example.org"
    installation.env.update(SMTP_URL=smtp.url)
    with installation.process("worker", "--poll", "30", log="worker.log") as worker:
        started = time.monotonic()
        while "outbox worker running" not in installation.log_text("worker.log"):
            assert time.monotonic() - started < 30 and worker.poll() is None, \
                installation.log_text("worker.log")
            await asyncio.sleep(0.1)
        await asyncio.sleep(2)  # listening, and resting after its first pass
        async with db.tenant_transaction(acme.id):
            await enqueue_email(acme.id, to=bea, subject="Bonjour", text="Salut")
        queued = time.monotonic()
        while not [m for m in smtp.messages if m["To"] == bea] and time.monotonic() - queued < 10:
            await asyncio.sleep(0.05)
        waited = time.monotonic() - queued
        assert stop(worker) == 0, installation.log_text("worker.log")
    assert waited < 3, (waited, installation.log_text("worker.log"))
