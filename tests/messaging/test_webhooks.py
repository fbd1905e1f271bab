"""Webhooks: endpoints per tenant, events queued with the change, signed the
Standard Webhooks way (checked here with an independent implementation and the
`standardwebhooks` package), delivered to a real HTTP server by the outbox
worker, retried with backoff when the endpoint fails."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import re
import time
import uuid

import pytest

from consent.ledger import notify
from messaging import webhooks
from messaging.outbox import OutboxWorker
from optinbase import db
from optinbase.context import TenantContext
from optinbase.settings import get_settings
from tests.factories import (
    make_contact,
    make_key,
    make_notice,
    make_purpose,
    make_tenant,
    make_world,
)
from tests.messaging.receiver import Receiver
from tests.messaging.smtp import free_port

SENDER = "Optinbase Test <no-reply@example.org>"


def verify(secret: str, headers: dict[str, str], body: bytes) -> None:
    """The published scheme, written from the spec: HMAC-SHA256 over
    "{webhook-id}.{webhook-timestamp}.{body}" keyed with the base64-decoded
    secret after `whsec_`; the header lists `v1,<base64>` signatures."""
    key = base64.b64decode(secret.split("_", 1)[1])
    msg_id, stamp = headers["webhook-id"], headers["webhook-timestamp"]
    assert abs(time.time() - int(stamp)) < 300
    expected = base64.b64encode(
        hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()).decode()
    given = [s.split(",", 1)[1] for s in headers["webhook-signature"].split(" ")
             if s.startswith("v1,")]
    assert any(hmac.compare_digest(expected, s) for s in given), "signature does not verify"


async def _rows(tenant) -> list:
    async with db.tenant_transaction(tenant.id, write=False):
        return await db.fetch(
            "SELECT id, contact_id, recipient, subject, payload, status, attempts,"
            " next_attempt_at, last_error FROM outbox_message"
            " WHERE tenant_id = {} AND kind = 'webhook' ORDER BY created_at, id", tenant.id)


def _body(row) -> dict:
    payload = json.loads(row["payload"]) if isinstance(row["payload"], str) else row["payload"]
    return json.loads(payload["body"])


async def _attempt(worker, tenant, now, attempts: int) -> dict:
    """Runs the worker at `now` until our message has been tried `attempts` times
    (the claim takes due messages of every tenant, oldest first)."""
    for _ in range(50):
        [row] = await _rows(tenant)
        if row["attempts"] >= attempts and row["status"] != "sending":
            return row
        await worker.run_once(now)
    raise AssertionError(f"not attempted: {row['status']} after {row['attempts']} attempts")


async def _endpoint(client, tenant, url, events=("consent.changed",)) -> dict:
    answer = await client.post("/v1/webhooks", headers=tenant.headers,
                               json={"url": url, "events": list(events)})
    assert answer.status_code == 201, answer.text
    return answer.json()


async def test_failing_endpoint_is_retried_with_backoff_then_delivered(private_client):
    client = private_client
    receiver = Receiver([500, 503]).start()
    worker = OutboxWorker("", SENDER, allow_private=True)
    try:
        tenant = await make_tenant()
        endpoint = await _endpoint(client, tenant, receiver.url)
        secret = endpoint["secret"]
        assert re.fullmatch(r"whsec_[A-Za-z0-9+/]+=*", secret)
        assert len(base64.b64decode(secret[6:])) >= 24
        world = await make_world(tenant)
        now = dt.datetime.now(dt.timezone.utc)
        first = await _attempt(worker, tenant, now, 1)
        assert (first["status"], first["attempts"]) == ("pending", 1)
        assert "500" in first["last_error"]
        assert first["next_attempt_at"] >= now + dt.timedelta(seconds=25)
        await worker.run_once(now + dt.timedelta(seconds=5))
        assert len(receiver.requests) == 1  # not due yet
        second = await _attempt(worker, tenant, first["next_attempt_at"] + dt.timedelta(seconds=1), 2)
        assert second["status"] == "pending" and "503" in second["last_error"]
        waited = second["next_attempt_at"] - first["next_attempt_at"]
        assert waited >= dt.timedelta(seconds=50)  # the backoff doubled
        third = await _attempt(worker, tenant, second["next_attempt_at"] + dt.timedelta(seconds=1), 3)
        assert third["status"] == "sent"
    finally:
        receiver.stop()
        await worker.close()
    assert len(receiver.requests) == 3
    assert {headers["webhook-id"] for _, headers, _ in receiver.requests} == {str(third["id"])}
    for path, headers, body in receiver.requests:
        assert path == "/hooks" and headers["content-type"] == "application/json"
        verify(secret, headers, body)
    with pytest.raises(AssertionError):
        verify(secret, receiver.requests[0][1], receiver.requests[0][2] + b" ")
    sent = json.loads(receiver.requests[-1][2])
    assert sent["type"] == "consent.changed" and sent["timestamp"]
    assert sent["data"] == {
        "cursor": sent["data"]["cursor"],  # the change feed's (tests/api/test_changes.py)
        "event_id": world.event["id"], "contact_id": world.contact["id"], "channel": "email",
        "purpose": "newsletter", "action": "granted", "status": "granted", "method": "api",
        "collected_at": sent["data"]["collected_at"], "recorded_at": sent["data"]["recorded_at"]}
    assert sent["data"]["collected_at"].startswith(world.event["collected_at"][:19])


async def test_signature_verifies_with_the_standardwebhooks_package(private_client):
    client = private_client
    standardwebhooks = pytest.importorskip("standardwebhooks.webhooks")
    receiver = Receiver().start()
    worker = OutboxWorker("", SENDER, allow_private=True)
    try:
        tenant = await make_tenant()
        secret = (await _endpoint(client, tenant, receiver.url))["secret"]
        await make_world(tenant)
        await _attempt(worker, tenant, dt.datetime.now(dt.timezone.utc), 1)
    finally:
        receiver.stop()
        await worker.close()
    [(_, headers, body)] = receiver.requests
    hook = standardwebhooks.Webhook(secret)
    assert hook.verify(body, headers)["type"] == "consent.changed"
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        hook.verify(body.replace(b"granted", b"refused"), headers)


async def test_unreachable_endpoint_waits_with_the_error(private_client):
    client = private_client
    tenant = await make_tenant()
    await _endpoint(client, tenant, f"http://127.0.0.1:{free_port()}/gone")
    await make_world(tenant)
    worker = OutboxWorker("", SENDER, allow_private=True)
    try:
        row = await _attempt(worker, tenant, dt.datetime.now(dt.timezone.utc), 1)
    finally:
        await worker.close()
    assert row["status"] == "pending" and "Connect" in row["last_error"]


async def test_every_consent_change_is_an_event(client):
    """API grants, double opt-in confirmations, one-click unsubscribes, SMS STOP."""
    tenant = await make_tenant()
    await _endpoint(client, tenant, "https://crm.example/hooks")
    await make_purpose(tenant)
    notice = await make_notice(tenant)
    contact = await make_contact(tenant, phone="+33612345671")
    await client.post(f"/v1/contacts/{contact['id']}/consents", headers=tenant.headers, json={
        "channel": "email", "purpose": "newsletter", "action": "grant", "method": "web_form",
        "notice_id": notice["id"], "double_opt_in": True})
    async with db.tenant_transaction(tenant.id, write=False):
        mail = await db.fetchrow("SELECT payload FROM outbox_message WHERE tenant_id = {}"
                                 " AND kind = 'email'", tenant.id)
    mail = json.loads(mail["payload"]) if isinstance(mail["payload"], str) else mail["payload"]
    token = re.search(r"/p/confirm/([A-Za-z0-9_-]+)", mail["text"]).group(1)
    assert (await client.post(f"/p/confirm/{token}")).status_code == 200
    unsubscribe = re.search(r"<https?://[^/]+(/[^>]+)>", mail["headers"]["List-Unsubscribe"])
    await client.post(unsubscribe.group(1), content=b"List-Unsubscribe=One-Click")
    await client.post(f"/v1/contacts/{contact['id']}/consents", headers=tenant.headers, json={
        "channel": "sms", "purpose": "newsletter", "action": "grant", "method": "api",
        "notice_id": notice["id"]})
    await client.post("/v1/inbound/sms", headers=tenant.headers,
                      json={"from": "+33612345671", "text": "STOP"})
    rows = await _rows(tenant)
    seen = [(b["data"]["channel"], b["data"]["action"], b["data"]["method"])
            for b in map(_body, rows)]
    assert seen == [("email", "requested", "web_form"), ("email", "confirmed", "double_opt_in"),
                    ("email", "withdrawn", "one_click_unsubscribe"), ("sms", "granted", "api"),
                    ("sms", "withdrawn", "sms_stop")]
    assert {r["subject"] for r in rows} == {"consent.changed"}
    assert {str(r["contact_id"]) for r in rows} == {contact["id"]}  # erasure can find them


async def test_events_go_only_to_endpoints_that_want_them(client):
    tenant = await make_tenant()
    erased = await _endpoint(client, tenant, "https://crm.example/erased", ["contact.erased"])
    both = await _endpoint(client, tenant, "https://crm.example/both",
                           ["request.completed", "contact.erased"])
    await make_world(tenant)  # a grant: nobody wants consent.changed
    assert await _rows(tenant) == []
    ctx = TenantContext.for_system(tenant, "test")
    gone, request_id = uuid.uuid4(), uuid.uuid4()
    async with db.tenant_transaction(tenant.id):
        await notify.contact_erased(ctx, gone)
        await notify.request_completed(ctx, request_id, "erasure", "completed")
    rows = await _rows(tenant)
    sent = sorted((r["recipient"], r["subject"]) for r in rows)
    assert sent == [(both["url"], "contact.erased"), (both["url"], "request.completed"),
                    (erased["url"], "contact.erased")]
    assert all(r["contact_id"] is None for r in rows)  # kept through erasure
    bodies = {r["subject"]: _body(r)["data"] for r in rows}
    assert bodies["contact.erased"]["contact_id"] == str(gone)
    assert bodies["request.completed"]["request_id"] == str(request_id)
    assert bodies["request.completed"]["kind"] == "erasure"


async def test_list_delete_and_cancelled_deliveries(private_client):
    client = private_client
    receiver = Receiver().start()
    worker = OutboxWorker("", SENDER, allow_private=True)
    try:
        tenant = await make_tenant()
        endpoint = await _endpoint(client, tenant, receiver.url)
        listed = (await client.get("/v1/webhooks", headers=tenant.headers)).json()
        assert [(e["id"], e["url"], e["events"]) for e in listed] == [
            (endpoint["id"], receiver.url, ["consent.changed"])]
        assert "secret" not in listed[0]  # shown once
        await make_world(tenant)
        gone = await client.delete(f"/v1/webhooks/{endpoint['id']}", headers=tenant.headers)
        assert gone.status_code == 204
        assert (await client.get("/v1/webhooks", headers=tenant.headers)).json() == []
        again = await client.delete(f"/v1/webhooks/{endpoint['id']}", headers=tenant.headers)
        assert again.status_code == 404
        row = await _attempt(worker, tenant, dt.datetime.now(dt.timezone.utc), 1)
        assert row["status"] == "cancelled"
    finally:
        receiver.stop()
        await worker.close()
    assert receiver.requests == []


async def test_foreign_endpoints_answer_like_missing_ones(client):
    a, b = await make_tenant(), await make_tenant()
    endpoint = await _endpoint(client, a, "https://crm.example/a")
    foreign = await client.delete(f"/v1/webhooks/{endpoint['id']}", headers=b.headers)
    missing = await client.delete(f"/v1/webhooks/{uuid.uuid4()}", headers=b.headers)
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == missing.json()
    assert (await client.get("/v1/webhooks", headers=b.headers)).json() == []
    assert len((await client.get("/v1/webhooks", headers=a.headers)).json()) == 1
    await make_world(b)  # b's change queues nothing for a's endpoint
    assert await _rows(b) == []


@pytest.mark.parametrize(("body", "field"), [
    ({"url": "https://crm.example/x", "events": ["consent.deleted"]}, "events"),
    ({"url": "https://crm.example/x", "events": []}, "events"),
    ({"url": "https://crm.example/x", "events": ["contact.erased", "contact.erased"]}, "events"),
    ({"url": "ftp://example.com/x", "events": ["consent.changed"]}, "url"),
    ({"url": "http:///nohost", "events": ["consent.changed"]}, "url"),
    ({"url": "http://user:pw@example.com/", "events": ["consent.changed"]}, "url"),
    ({"url": "https://crm.example/x", "events": ["consent.changed"], "secret": "mine"}, "secret"),
    ({"events": ["consent.changed"]}, "url"),
])
async def test_bad_input_names_the_field(client, body, field):
    tenant = await make_tenant()
    answer = await client.post("/v1/webhooks", headers=tenant.headers, json=body)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert field in answer.json()["detail"]
    assert (await client.get("/v1/webhooks", headers=tenant.headers)).json() == []


async def test_webhooks_need_the_admin_scope(client):
    tenant = await make_tenant()
    key = await make_key(tenant.id, scopes=["consents:read", "consents:write"])
    headers = {"Authorization": f"Bearer {key}"}
    assert (await client.get("/v1/webhooks", headers=headers)).status_code == 403
    answer = await client.post("/v1/webhooks", headers=headers,
                               json={"url": "https://crm.example/", "events": ["consent.changed"]})
    assert answer.status_code == 403


async def test_imported_grants_are_events_too(client):
    tenant = await make_tenant()
    await _endpoint(client, tenant, "https://crm.example/hooks")
    await make_purpose(tenant)
    notice = await make_notice(tenant)
    # An SMS grant needs the contact's phone number (refused without one).
    csv = ("email,phone,consent_channel,consent_purpose,notice_id,collected_at\n"
           f"imp1@example.com,,email,newsletter,{notice['id']},2026-10-01T08:00:00Z\n"
           f"imp2@example.com,+33612345678,sms,newsletter,{notice['id']},2026-10-02T08:00:00Z\n")
    answer = await client.post("/v1/imports", content=csv.encode(), headers={
        **tenant.headers, "Content-Type": "text/csv"})
    assert answer.status_code == 202 and answer.json()["status"] == "done", answer.text
    [row] = await _rows(tenant)  # one change of two events: one batched delivery
    batch = _body(row)
    assert batch["type"] == "batch" and row["contact_id"] is None
    assert {e["type"] for e in batch["events"]} == {"consent.changed"}
    bodies = [e["data"] for e in batch["events"]]
    assert sorted((b["channel"], b["action"], b["method"], b["purpose"]) for b in bodies) == [
        ("email", "granted", "import", "newsletter"), ("sms", "granted", "import", "newsletter")]
    assert all(b["status"] is None for b in bodies)


async def test_an_import_is_delivered_in_batches(private_client):
    """Issue 16 §3: a bulk change is a few POSTs of up to BATCH_EVENTS events,
    each signed like any delivery, each event exactly a single delivery's body.
    Batches are made per committed chunk of the import (IMPORT_CHUNK_ROWS)."""
    expected = _batches(1200, get_settings().import_chunk_rows, webhooks.BATCH_EVENTS)
    client = private_client
    receiver = Receiver().start()
    worker = OutboxWorker("", SENDER, allow_private=True)
    try:
        tenant = await make_tenant()
        secret = (await _endpoint(client, tenant, receiver.url))["secret"]
        await make_purpose(tenant)
        notice = await make_notice(tenant)
        csv = "email,consent_channel,consent_purpose,notice_id,collected_at\n" + "".join(
            f"batch{i}@example.com,email,newsletter,{notice['id']},2026-10-01T08:00:00Z\n"
            for i in range(1200))
        answer = await client.post("/v1/imports", content=csv.encode(), headers={
            **tenant.headers, "Content-Type": "text/csv"})
        assert answer.status_code == 202 and answer.json()["status"] == "done", answer.text
        assert len(await _rows(tenant)) == len(expected) < 12  # not 1,200 rows
        await worker.run_once()
    finally:
        receiver.stop()
        await worker.close()
    assert len(receiver.requests) == len(expected)
    sizes, ids, contacts = [], set(), set()
    for _, headers, body in receiver.requests:
        verify(secret, headers, body)
        batch = json.loads(body)
        assert set(batch) == {"type", "timestamp", "events"} and batch["type"] == "batch"
        sizes.append(len(batch["events"]))
        for event in batch["events"]:
            assert set(event) == {"type", "timestamp", "data"}
            assert event["type"] == "consent.changed" and event["data"]["method"] == "import"
            ids.add(event["data"]["event_id"])
            contacts.add(event["data"]["contact_id"])
    assert sorted(sizes) == expected
    assert len(ids) == len(contacts) == 1200
    assert len({headers["webhook-id"] for _, headers, _ in receiver.requests}) == len(expected)


def _batches(rows: int, chunk: int, batch: int) -> list[int]:
    """The sizes of the batches of an import of `rows` grants, sorted: each
    chunk's events cut into batches of at most `batch`."""
    sizes = []
    for start in range(0, rows, chunk):
        left = min(chunk, rows - start)
        sizes += [batch] * (left // batch) + ([left % batch] if left % batch else [])
    return sorted(sizes)


async def test_one_act_of_several_changes_is_one_batch(client):
    tenant = await make_tenant()
    await _endpoint(client, tenant, "https://crm.example/hooks")
    await make_purpose(tenant, "newsletter")
    await make_purpose(tenant, "offers")
    contact = await make_contact(tenant, phone="+33612345672")
    for purpose in ("newsletter", "offers"):
        notice = await make_notice(tenant, purpose=purpose, channels=("sms",))
        await client.post(f"/v1/contacts/{contact['id']}/consents", headers=tenant.headers, json={
            "channel": "sms", "purpose": purpose, "action": "grant", "method": "api",
            "notice_id": notice["id"]})
    answer = await client.post("/v1/inbound/sms", headers=tenant.headers,
                               json={"from": "+33612345672", "text": "STOP"})
    assert answer.json()["withdrawn"] == 2
    rows = await _rows(tenant)
    assert [_body(r)["type"] for r in rows] == ["consent.changed", "consent.changed", "batch"]
    stop = _body(rows[-1])["events"]
    assert sorted(e["data"]["purpose"] for e in stop) == ["newsletter", "offers"]
    assert {(e["data"]["action"], e["data"]["method"]) for e in stop} == {("withdrawn", "sms_stop")}
