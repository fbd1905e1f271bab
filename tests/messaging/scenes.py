"""Small scenes the messaging tests share: a person asking for a double opt-in
(which queues a transactional confirmation e-mail), rows of the outbox as a
worker sees them, and a backlog written straight into a tenant's outbox."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from typing import Any

from messaging import store
from optinbase import db
from tests.factories import TenantFixture, make_contact, make_notice, make_purpose


async def ask_confirmation(client: Any, tenant: TenantFixture, **contact: Any) -> dict:
    """A double-opt-in grant through the API: the confirmation e-mail is queued."""
    await make_purpose(tenant)
    notice = await make_notice(tenant)
    person = await make_contact(tenant, **contact)
    answer = await client.post(
        f"/v1/contacts/{person['id']}/consents", headers=tenant.headers,
        json={"channel": "email", "purpose": "newsletter", "action": "grant",
              "method": "web_form", "notice_id": notice["id"], "double_opt_in": True})
    assert answer.status_code == 201 and answer.json()["status"] == "pending", answer.text
    return person


async def outbox(tenant: TenantFixture) -> list[Any]:
    async with db.tenant_transaction(tenant.id, write=False):
        return await db.fetch(
            "SELECT id, kind, priority, recipient, subject, payload, status, attempts, last_error,"
            " message_id, contact_id FROM outbox_message WHERE tenant_id = {}"
            " ORDER BY created_at, id", tenant.id)


async def mails_to(tenant: TenantFixture, recipient: str) -> list[dict]:
    """The payloads (text, headers) of the e-mails queued or kept for `recipient`."""
    async with db.tenant_transaction(tenant.id, write=False):
        rows = await db.fetch("SELECT payload FROM outbox_message WHERE tenant_id = {}"
                              " AND kind = 'email' AND recipient = {}", tenant.id, recipient)
    return [r["payload"] if isinstance(r["payload"], dict) else json.loads(r["payload"])
            for r in rows]


CONFIRM = re.compile(r"/p/confirm/([A-Za-z0-9_-]+)")


async def confirmation_tokens(tenant: TenantFixture, recipient: str) -> list[str]:
    """The tokens of the confirmation links e-mailed to `recipient`, oldest first."""
    return [m.group(1) for p in await mails_to(tenant, recipient)
            for m in [CONFIRM.search(p.get("text", ""))] if m]


async def backlog(tenant: Any, count: int, url: str, endpoint_id: uuid.UUID,
                  priority: int = store.STANDARD) -> None:
    """`count` single-event webhook deliveries for `tenant` (a fixture or an
    id), as one-row-per-change imports used to queue them (bench/outbox.py too)."""
    tenant_id = getattr(tenant, "id", tenant)
    now = dt.datetime.now(dt.timezone.utc)
    body = json.dumps({"type": "consent.changed", "timestamp": "2026-12-01T00:00:00Z",
                       "data": {"backlog": True}})
    payload = json.dumps({"endpoint_id": str(endpoint_id), "body": body})
    rows = [(uuid.uuid4(), tenant_id, priority, url, payload, now, now) for _ in range(count)]
    async with db.tenant_transaction(tenant_id):
        for start in range(0, count, 5000):
            await db.executemany(
                "INSERT INTO outbox_message (id, tenant_id, kind, priority, contact_id, recipient,"
                " subject, payload, status, attempts, next_attempt_at, created_at)"
                " VALUES ({}, {}, 'webhook', {}, NULL, {}, 'consent.changed', {}, 'pending', 0, {}, {})",
                rows[start:start + 5000])


async def forget(*tenants: Any) -> None:
    """Drops what is left of these tenants' outbox (a backlog must not keep
    later tests' workers busy: they share the database)."""
    for tenant in tenants:
        tenant_id = getattr(tenant, "id", tenant)
        async with db.tenant_transaction(tenant_id):
            await db.execute("DELETE FROM outbox_message WHERE tenant_id = {}", tenant_id)


async def set_aside_earlier_rows() -> None:
    """Drops what earlier tests left due in this test process's database, so
    that this test's worker passes serve its own tenants only. Other suites
    queue webhooks to names such as crm.example and never deliver them; a test
    that runs passes hours ahead (every retry of a row) tried each of them, and
    a lookup the resolver drops waits out its 5 s timeout: the poison test took
    30 s so."""
    years_ahead = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=3650)
    await forget(*(tenant_id for tenant_id, _ in await store.due_tenants(years_ahead, store.BULK)))
