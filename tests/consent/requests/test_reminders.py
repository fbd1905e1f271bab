"""The DPO's daily digest of requests overdue or due within a week: ids, kinds
and dates only, once a day, never for closed requests."""

from __future__ import annotations

import datetime as dt

from optinbase import db
from tests.factories import as_owner, make_tenant
from workers.housekeeping import remind_due


async def test_dpo_gets_one_digest_a_day(client):
    tenant = await make_tenant()
    async with as_owner():
        await db.execute("UPDATE tenant SET dpo_email = {} WHERE id = {}",
                         f"dpo@{tenant.slug}.example", tenant.id)
    now = dt.datetime.now(dt.timezone.utc)
    made = {}
    for name, due in (("late", now - dt.timedelta(days=2)), ("soon", now + dt.timedelta(days=2)),
                      ("later", now + dt.timedelta(days=25)), ("closed", now - dt.timedelta(days=9))):
        made[name] = (await client.post("/v1/requests", json={
            "kind": "access", "email": f"{name}.person@example.com", "identity_verified": True},
            headers=tenant.headers)).json()["id"]
        async with db.tenant_transaction(tenant.id):
            await db.execute("UPDATE data_subject_request SET due_at = {} WHERE tenant_id = {}"
                             " AND id = {}", due, tenant.id, made[name])
    await client.post(f"/v1/requests/{made['closed']}/reject", json={"reason": "duplicate"},
                      headers=tenant.headers)

    async def digests():
        async with db.tenant_transaction(tenant.id, write=False):
            return await db.fetch("SELECT subject, payload FROM outbox_message WHERE tenant_id = {}"
                                  " AND recipient = {}", tenant.id, f"dpo@{tenant.slug}.example")

    assert await remind_due(now) >= 1
    [digest] = await digests()
    text = str(digest["payload"])
    assert "1 overdue" in digest["subject"] and "2 data-subject request(s)" in digest["subject"]
    assert made["late"] in text and made["soon"] in text
    assert made["later"] not in text and made["closed"] not in text
    assert "person@example.com" not in text  # no personal data by e-mail

    await remind_due(now + dt.timedelta(hours=2))
    assert len(await digests()) == 1  # once a day
    await remind_due(now + dt.timedelta(days=1, minutes=1))
    assert len(await digests()) == 2
    trail = (await client.get(f"/v1/requests/{made['late']}", headers=tenant.headers)).json()
    assert [e["action"] for e in trail["events"]].count("dpo_reminded") == 2
