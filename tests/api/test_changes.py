"""GET /v1/changes on both engines: consent changes, suppressions and erasures
in commit order, resumable by cursor, the same cursor in webhooks, another
tenant's changes invisible, and no change skipped by a consumer polling while
writers commit concurrently."""

from __future__ import annotations

import asyncio
import json

from messaging import webhooks
from messaging.webhooks import WebhookIn
from optinbase import db
from tests.api.test_imports import HEADER, WHEN, post_import
from tests.factories import grant, make_contact, make_key, make_tenant, make_world, record


async def feed(client, tenant, after=None, limit=None) -> dict:
    params = {k: v for k, v in (("after", after), ("limit", limit)) if v is not None}
    answer = await client.get("/v1/changes", params=params, headers=tenant.headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def everything(client, tenant, limit=3) -> list[dict]:
    items, after = [], None
    while True:
        page = await feed(client, tenant, after, limit)
        items += page["items"]
        after = page["next_cursor"]
        if not page["has_more"]:
            return items


async def test_consent_suppression_and_erasure_in_order(client):
    world = await make_world(await make_tenant())
    tenant, contact = world.tenant, world.contact
    await record(tenant, contact["id"], "withdraw")
    answer = await client.post("/v1/suppressions", headers=tenant.headers,
                               json={"email": contact["email"], "channel": "email",
                                     "reason": "bounce"})
    assert answer.status_code in (200, 201), answer.text
    # Listing the same person again is no change.
    await client.post("/v1/suppressions", headers=tenant.headers,
                      json={"email": contact["email"], "channel": "email", "reason": "bounce"})
    items = await everything(client, tenant, limit=1)
    assert [(i["kind"], i.get("channel"), i.get("purpose"), i.get("status"), i.get("reason"))
            for i in items] == [
        ("consent", "email", "newsletter", "granted", None),
        ("consent", "email", "newsletter", "withdrawn", None),
        ("suppression", "email", None, None, "bounce"),
    ]
    assert {i["contact_id"] for i in items} == {contact["id"]}
    assert items[0]["event_id"] == world.event["id"]
    # Taken off the list (with a reason): the copy learns it too.
    lifted = await client.request("DELETE", "/v1/suppressions", headers=tenant.headers,
                                  json={"email": contact["email"], "channel": "email",
                                        "reason": "bounced by mistake"})
    assert lifted.status_code == 204, lifted.text
    [off] = (await feed(client, tenant, items[-1]["cursor"]))["items"]
    assert (off["kind"], off["channel"], off["reason"], off["contact_id"]) == (
        "unsuppression", "email", "bounce", contact["id"])
    items.append(off)

    # Resuming after the last cursor: nothing new, the cursor is kept.
    last = items[-1]["cursor"]
    assert await feed(client, tenant, last) == {"items": [], "next_cursor": last,
                                                "has_more": False}
    assert (await client.delete(f"/v1/contacts/{contact['id']}",
                                headers=tenant.headers)).status_code == 204
    after = await feed(client, tenant, last)
    kinds = [(i["kind"], i.get("reason")) for i in after["items"]]
    assert kinds[-1] == ("erasure", None) and after["items"][-1]["contact_id"] == contact["id"]
    # The erased person's history is gone from the feed; the erasure says whom to forget.
    replay = await everything(client, tenant)
    assert [i for i in replay if i["contact_id"] == contact["id"]] == [after["items"][-1]]


async def test_cursors_page_and_forged_cursors_are_refused(client):
    world = await make_world(await make_tenant())
    for _ in range(4):
        await record(world.tenant, world.contact["id"], "withdraw")
    first = await feed(client, world.tenant, limit=2)
    assert len(first["items"]) == 2 and first["has_more"]
    second = await feed(client, world.tenant, first["next_cursor"], limit=2)
    third = await feed(client, world.tenant, second["next_cursor"], limit=2)
    assert len(third["items"]) == 1 and not third["has_more"]
    cursors = [i["cursor"] for p in (first, second, third) for i in p["items"]]
    assert len(set(cursors)) == 5
    for bad in ("nonsense!", "dTp4", "aTox' OR 1=1"):
        answer = await client.get("/v1/changes", params={"after": bad},
                                  headers=world.tenant.headers)
        assert answer.status_code == 422, (bad, answer.text)
    answer = await client.get("/v1/changes", params={"limit": 0}, headers=world.tenant.headers)
    assert answer.status_code in (400, 422)


async def test_another_tenants_changes_are_invisible(client):
    mine = await make_world(await make_tenant())
    theirs = await make_world(await make_tenant())
    await record(theirs.tenant, theirs.contact["id"], "withdraw")
    items = await everything(client, mine.tenant)
    assert {i["contact_id"] for i in items} == {mine.contact["id"]}
    # Their cursor in my feed only moves my window; it never shows their rows.
    their_cursor = (await everything(client, theirs.tenant))[-1]["cursor"]
    seen = (await feed(client, mine.tenant, their_cursor))["items"]
    assert all(i["contact_id"] == mine.contact["id"] for i in seen)


async def test_the_scope_is_required(client):
    world = await make_world(await make_tenant())
    key = await make_key(world.tenant.id, scopes=["contacts:read"])
    answer = await client.get("/v1/changes", headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 403


async def _webhook_bodies(tenant) -> list[dict]:
    async with db.tenant_transaction(tenant.id):
        rows = await db.fetch("SELECT payload FROM outbox_message"
                              " WHERE tenant_id = {} AND kind = 'webhook' ORDER BY created_at",
                              tenant.id)
    payloads = [json.loads(r["payload"]) if isinstance(r["payload"], str) else r["payload"]
                for r in rows]
    return [json.loads(p["body"]) for p in payloads]


async def test_webhooks_carry_the_feed_cursor(client, backend):
    world = await make_world(await make_tenant())
    async with db.tenant_transaction(world.tenant.id):
        await webhooks.create_endpoint(
            world.tenant.id, WebhookIn(url="http://127.0.0.1:9/hook",
                                       events=["consent.changed", "contact.erased"]),
            allow_private=True)
    await record(world.tenant, world.contact["id"], "withdraw")
    [changed] = await _webhook_bodies(world.tenant)
    items = await everything(client, world.tenant)
    assert changed["type"] == "consent.changed"
    assert changed["data"]["cursor"] == items[-1]["cursor"]
    assert changed["data"]["status"] == items[-1]["status"] == "withdrawn"
    assert (await client.delete(f"/v1/contacts/{world.contact['id']}",
                                headers=world.tenant.headers)).status_code == 204
    # Erasure drops the person's queued deliveries; the erasure's own stays.
    [erased] = await _webhook_bodies(world.tenant)
    last = (await everything(client, world.tenant))[-1]
    assert (erased["type"], erased["data"]["cursor"]) == ("contact.erased", last["cursor"])


async def test_an_import_is_in_the_feed_once_per_changed_state(client):
    world = await make_world(await make_tenant())
    late = await make_contact(world.tenant, email="late@example.com")
    await record(world.tenant, late["id"], "withdraw", collected_at="2026-03-01T00:00:00Z")
    async with db.tenant_transaction(world.tenant.id):
        await webhooks.create_endpoint(
            world.tenant.id, WebhookIn(url="http://127.0.0.1:9/hook", events=["consent.changed"]),
            allow_private=True)
    before = await everything(client, world.tenant)
    notice = world.notice["id"]
    body = HEADER + (
        f"new1@example.com,,,,,email,newsletter,{notice},{WHEN},\n"
        f"new2@example.com,+33612345678,,,,sms,newsletter,{notice},{WHEN},\n"  # SMS: a phone
        f"late@example.com,,,,,email,newsletter,{notice},{WHEN},\n"  # older than the withdrawal
    )
    assert (await post_import(client, world.tenant, body)).status_code == 202
    new = (await feed(client, world.tenant, before[-1]["cursor"]))["items"]
    assert sorted((i["channel"], i["status"]) for i in new) == [("email", "granted"),
                                                                ("sms", "granted")]
    assert late["id"] not in {i["contact_id"] for i in new}
    # The import's batched delivery carries each change's cursor (none for the
    # back-dated grant, which changed no state).
    [batch] = [b for b in await _webhook_bodies(world.tenant) if b["type"] == "batch"]
    sent = {e["data"]["contact_id"]: e["data"]["cursor"] for e in batch["events"]}
    assert sent[late["id"]] is None
    assert sorted(c for c in sent.values() if c) == sorted(i["cursor"] for i in new)


async def test_commit_order_under_concurrent_writers(client, backend):
    """Writers commit while a consumer polls: every change the consumer will
    ever see comes after the cursors it already holds (no late arrival below
    a cursor), and the numbers have no holes."""
    world = await make_world(await make_tenant())
    tenant = world.tenant
    people = [await make_contact(tenant) for _ in range(12)]
    seen: list[dict] = []
    done = asyncio.Event()

    async def consumer() -> None:
        after = None
        while True:
            finished = done.is_set()
            page = await feed(client, tenant, after, 5)
            seen.extend(page["items"])
            after = page["next_cursor"]
            if finished and not page["has_more"]:
                return
            await asyncio.sleep(0)

    async def writer(person: dict) -> None:
        for action in ("grant", "withdraw"):
            body = {"channel": "email", "purpose": "newsletter", "action": action,
                    "method": "api"}
            if action == "grant":
                body["notice_id"] = world.notice["id"]
            answer = await client.post(f"/v1/contacts/{person['id']}/consents",
                                       headers=tenant.headers, json=body)
            assert answer.status_code == 201, answer.text

    polling = asyncio.create_task(consumer())
    await asyncio.gather(*(writer(p) for p in people))
    done.set()
    await polling
    final = await everything(client, tenant, limit=50)
    assert [i["cursor"] for i in seen] == [i["cursor"] for i in final]
    assert len(final) == 1 + 2 * len(people)
    # Per person, the feed says granted then withdrawn: the copy ends where the base is.
    for person in people:
        mine = [i["status"] for i in final if i["contact_id"] == person["id"]]
        assert mine == ["granted", "withdrawn"]
