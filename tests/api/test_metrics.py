"""`GET /metrics` in-process on both engines: the gauges read at scrape time
(outbox, open and overdue requests — on PostgreSQL through the owner's
`optinbase_ops_gauges`, as the application role under row-level security), the
token rules, and labels free of personal data."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid

import pytest

from consent.ledger import checkpoints
from optinbase import db
from optinbase.context import TenantContext
from tests.factories import as_owner, make_request, make_tenant, make_world


def _value(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and line[len(name):len(name) + 1] in ("{", " ") and all(
                f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


@pytest.fixture
def token(app):
    settings = app.state.settings
    app.state.settings = dataclasses.replace(settings, metrics_token="scrape-" + uuid.uuid4().hex)
    try:
        yield app.state.settings.metrics_token
    finally:
        app.state.settings = settings


async def test_gauges_over_every_tenant(client, token):
    auth = {"Authorization": f"Bearer {token}"}
    before = (await client.get("/metrics", headers=auth)).text
    tenant = await make_tenant()
    address = f"metrics.{uuid.uuid4().hex[:8]}@example.org"
    late = await make_request(tenant, address, kind="access")  # queues a verification e-mail
    await make_request(tenant, f"other.{address}", kind="erasure")
    async with db.tenant_transaction(tenant.id):
        await db.execute("UPDATE data_subject_request SET due_at = {} WHERE tenant_id = {}"
                         " AND id = {}", dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1),
                         tenant.id, uuid.UUID(late["id"]))
    after = await client.get("/metrics", headers=auth)
    assert after.status_code == 200 and after.headers["content-type"].startswith("text/plain")
    text = after.text
    pending = dict(name="optinbase_outbox_messages", kind="email", status="pending")
    assert _value(text, **pending) - _value(before, **pending) == 2
    assert _value(text, "optinbase_requests_open", state="open") - \
        _value(before, "optinbase_requests_open", state="open") == 2
    assert _value(text, "optinbase_requests_open", state="overdue") - \
        _value(before, "optinbase_requests_open", state="overdue") == 1
    for name in ("optinbase_outbox_oldest_due_seconds", "optinbase_outbox_dead_messages",
                 "optinbase_http_requests_total", "optinbase_http_request_duration_seconds"):
        assert name in text
    assert address not in text and tenant.slug not in text and str(tenant.id) not in text


async def test_waiting_messages_checkpoints_and_the_pool(client, token, backend):
    """The oldest due message per class *and* kind (a webhook backlog shows as
    such), the checkpoint log's age, and the pool on PostgreSQL."""
    auth = {"Authorization": f"Bearer {token}"}
    tenant = await make_tenant()
    await make_request(tenant, f"late.{uuid.uuid4().hex[:8]}@example.org")  # a transactional mail
    an_hour_ago = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
    async with as_owner(), db.tenant_transaction(tenant.id):  # the app role may not
        await db.execute("UPDATE outbox_message SET next_attempt_at = {} WHERE tenant_id = {}",
                         an_hour_ago, tenant.id)
    await checkpoints.publish_now(TenantContext.for_system(tenant, "test"))  # no event: no line
    await make_world(tenant)
    await checkpoints.publish_now(TenantContext.for_system(tenant, "test"))
    text = (await client.get("/metrics", headers=auth)).text
    oldest = "optinbase_outbox_oldest_due_seconds"
    assert _value(text, oldest, **{"class": "transactional", "kind": "email"}) >= 3600
    assert f'{oldest}{{class="bulk",kind="webhook"}}' in text  # present at 0 when none waits
    ages = "optinbase_ledger_checkpoint_age_seconds"
    assert 0 <= _value(text, ages, which="newest") < 60
    rows = "optinbase_import_rows_total"
    body = b"email\nfine@example.org\nnot-an-address\n"
    imported = await client.post("/v1/imports", content=body,
                                 headers={**tenant.headers, "Content-Type": "text/csv"})
    assert imported.status_code == 202, imported.text
    after = (await client.get("/metrics", headers=auth)).text
    assert _value(after, rows, outcome="processed") - _value(text, rows, outcome="processed") == 2
    assert _value(after, rows, outcome="rejected") - _value(text, rows, outcome="rejected") == 1
    if backend == "postgres":
        assert _value(text, "optinbase_db_pool_size") >= 1
        assert 0 <= _value(text, "optinbase_db_pool_in_use") <= _value(text, "optinbase_db_pool_size")


async def test_token_rules(client, app, token):
    assert (await client.get("/metrics")).status_code == 401
    wrong = await client.get("/metrics", headers={"Authorization": f"Bearer {token}x"})
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"].startswith("Bearer")
    assert (await client.get("/metrics", headers={"Authorization": f"Basic {token}"})
            ).status_code == 401
    app.state.settings = dataclasses.replace(app.state.settings, metrics_token="")
    unset = await client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    unknown = await client.get("/metrics-nowhere")
    assert unset.status_code == unknown.status_code == 404 and unset.json() == unknown.json()
