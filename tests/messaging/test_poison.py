"""Issue 13 §1: one bad row never stops anyone else's mail.

A webhook URL the HTTP client refuses (`http://a:b/`, an invalid IDNA host)
and a tenant name with a line break (it reaches a Subject) used to raise
outside the caught error types and crash every worker pass: another tenant's
double-opt-in e-mail stayed `sending` forever. Such input is now refused when
written, and when it reaches the outbox anyway (data from before, a path that
forgot to check) it is that row's failure alone."""

from __future__ import annotations

import datetime as dt
import json
import uuid

from messaging.outbox import MAX_ATTEMPTS, OutboxWorker, enqueue_email
from messaging.webhooks import new_secret
from optinbase import db
from tests.factories import as_owner, make_tenant
from tests.messaging.scenes import ask_confirmation, outbox, set_aside_earlier_rows
from tests.messaging.smtp import SmtpServer

SENDER = "Optinbase <no-reply@example.org>"
BAD_URLS = ["http://a:b/", "http://xn--ls8h.la/", "http://\u2603.net/"]


async def _legacy_endpoints(tenant, urls) -> None:
    """Endpoints written before URLs were checked (straight into the table)."""
    now = dt.datetime.now(dt.timezone.utc)
    async with db.tenant_transaction(tenant.id):
        for url in urls:
            await db.execute(
                "INSERT INTO webhook_endpoint (id, tenant_id, url, events, secret, created_at,"
                " disabled_at) VALUES ({}, {}, {}, {}, {}, {}, NULL)",
                uuid.uuid4(), tenant.id, url, json.dumps(["consent.changed"]), new_secret(), now)


async def _rename(tenant, name: str) -> None:
    """A name written before names were checked."""
    async with as_owner():
        await db.execute("UPDATE tenant SET name = {} WHERE id = {}", name, tenant.id)


async def test_such_input_is_refused_when_written(client):
    tenant = await make_tenant()
    for name in ("Acme\r\nBcc: victim@example.com", "Acme\n", "Acme\x00"):
        answer = await client.patch("/v1/tenant", headers=tenant.headers, json={"name": name})
        assert answer.status_code == 422, answer.text
        assert "name" in answer.text
    for url in BAD_URLS:
        answer = await client.post("/v1/webhooks", headers=tenant.headers,
                                   json={"url": url, "events": ["consent.changed"]})
        assert answer.status_code == 422, (url, answer.text)
        assert answer.json()["errors"][0]["field"] == "url"
    assert (await client.get("/v1/webhooks", headers=tenant.headers)).json() == []


async def test_poison_rows_never_stop_another_tenants_confirmation(client):
    smtp = SmtpServer().start()
    worker = OutboxWorker(smtp.url, SENDER)
    await set_aside_earlier_rows()
    try:
        # X: webhooks to URLs httpx refuses, queued by a consent change, and a
        # good e-mail behind them.
        x = await make_tenant()
        await _legacy_endpoints(x, BAD_URLS)
        x_person = await ask_confirmation(client, x)
        # Y: a name with a line break (header injection) in its confirmation's
        # Subject, and a good e-mail behind it.
        y = await make_tenant()
        await _rename(y, "Evil\r\nBcc: victim@example.com")
        await ask_confirmation(client, y)
        async with db.tenant_transaction(y.id):
            await enqueue_email(y.id, to="y-good@example.com", subject="Fine", text="Fine")
        # Z: an ordinary double opt-in.
        z = await make_tenant()
        z_person = await ask_confirmation(client, z)

        await worker.run_once()  # one pass

        to = [r.rcpt_tos for r in smtp.received]
        assert [z_person["email"]] in to  # Z's confirmation arrived
        assert [x_person["email"]] in to  # X's own mail was not held up by X's webhooks
        assert ["y-good@example.com"] in to  # nor Y's good mail by Y's bad one
        # No header was injected (the HTML body may name the tenant, escaped, as text).
        assert not any(b"victim@example.com" in r.raw.partition(b"\r\n\r\n")[0]
                       for r in smtp.received)
        assert all(r.rcpt_tos != ["victim@example.com"] for r in smtp.received)

        x_hooks = [r for r in await outbox(x) if r["kind"] == "webhook"]
        assert len(x_hooks) == len(BAD_URLS)
        assert {(r["status"], r["attempts"]) for r in x_hooks} == {("pending", 1)}
        assert all(r["last_error"] for r in x_hooks)
        y_bad = [r for r in await outbox(y) if r["recipient"] != "y-good@example.com"]
        assert [(r["status"], r["attempts"]) for r in y_bad] == [("dead", 1)]  # never sendable
        assert "line break" in y_bad[0]["last_error"]
        assert {r["status"] for r in await outbox(z)} == {"sent"}

        # The webhooks keep failing alone, with backoff, until they are dead.
        when = dt.datetime.now(dt.timezone.utc)
        for _ in range(MAX_ATTEMPTS):
            when += dt.timedelta(hours=2)
            await worker.run_once(when)
        assert {(r["status"], r["attempts"]) for r in await outbox(x) if r["kind"] == "webhook"} \
            == {("dead", MAX_ATTEMPTS)}
    finally:
        await worker.close()
        smtp.stop()


async def test_an_unexpected_exception_is_the_rows_failure(backend):
    """Not only the known error types: whatever a row raises (here a payload
    that is not what the code expects) counts against that row alone."""
    smtp = SmtpServer().start()
    worker = OutboxWorker(smtp.url, SENDER)
    try:
        tenant = await make_tenant()
        now = dt.datetime.now(dt.timezone.utc)
        async with db.tenant_transaction(tenant.id):
            await db.execute(
                "INSERT INTO outbox_message (id, tenant_id, kind, priority, recipient, subject,"
                " payload, status, attempts, next_attempt_at, created_at) VALUES"
                " ({}, {}, 'email', 1, 'odd@example.com', 'Odd', {}, 'pending', 0, {}, {})",
                uuid.uuid4(), tenant.id, json.dumps({"text": "x", "headers": ["not", "a", "map"]}),
                now, now)
            await enqueue_email(tenant.id, to="after@example.com", subject="After", text="After")
        await worker.run_once()
        rows = {r["recipient"]: r for r in await outbox(tenant)}
        assert rows["after@example.com"]["status"] == "sent"
        odd = rows["odd@example.com"]
        assert (odd["status"], odd["attempts"]) == ("pending", 1)
        assert "AttributeError" in odd["last_error"]
    finally:
        await worker.close()
        smtp.stop()
