"""Erasure leaves no personal data anywhere in the database — a full dump
(pg_dump; the SQLite file's bytes and its .dump) holds neither the e-mail, the
phone, the names nor the IPs — while the ledger still verifies and the person
cannot be imported again."""

from __future__ import annotations

import uuid

from optinbase import db
from tests.consent.dumps import whole_database
from tests.factories import make_contact, make_notice, make_purpose, make_tenant


async def test_erasure_leaves_no_trace(client, database_url):
    tenant = await make_tenant()
    h = tenant.headers
    await make_purpose(tenant)
    notice = await make_notice(tenant)
    mark = uuid.uuid4().hex[:10]
    person = {"email": f"erase.{mark}@example.org", "phone": "+33 6 98 76 54 32",
              "first_name": f"Zephyrine{mark}", "last_name": f"Quetzal{mark}"}
    ip, agent = "203.0.113.177", f"UniqueAgent/{mark}"
    hook = await client.post("/v1/webhooks", json={"url": "https://crm.example/hooks",
                                                  "events": ["contact.erased"]}, headers=h)
    assert hook.status_code == 201, hook.text
    contact = (await client.post("/v1/contacts", json=person, headers=h)).json()
    for channel, extra in (("email", {}), ("sms", {"double_opt_in": True})):
        answer = await client.post(
            f"/v1/contacts/{contact['id']}/consents",
            json={"channel": channel, "purpose": "newsletter", "action": "grant", "method": "api",
                  "notice_id": notice["id"], "ip": ip, "user_agent": agent, **extra},
            headers={**h, "Idempotency-Key": f"grant-{channel}-{mark}"},
        )
        assert answer.status_code == 201, answer.text
    needles = [person["email"].encode(), b"+33698765432", person["first_name"].encode(),
               person["last_name"].encode(), ip.encode(), agent.encode()]
    before = whole_database(database_url, tenant.id)
    assert all(n in before for n in needles)  # the check can see them when present

    erased = await client.delete(f"/v1/contacts/{contact['id']}", headers=h)
    assert erased.status_code == 204, erased.text
    assert (await client.get(f"/v1/contacts/{contact['id']}", headers=h)).status_code == 404
    assert (await client.delete(f"/v1/contacts/{contact['id']}", headers=h)).status_code == 404

    after = whole_database(database_url, tenant.id)
    leaks = [n for n in needles if n in after]
    assert leaks == []
    verify = (await client.get("/v1/ledger/verify", headers=h)).json()
    assert verify["ok"] is True and verify["events"] == 2
    async with db.tenant_transaction(tenant.id, write=False):
        queued = await db.fetch(
            "SELECT payload FROM outbox_message WHERE tenant_id = {} AND kind = 'webhook'",
            tenant.id)
    assert len(queued) == 1 and contact["id"] in str(queued[0]["payload"])
    assert "contact.erased" in str(queued[0]["payload"])

    again = await client.post("/v1/imports", content=f"email\n{person['email']}\n".encode(),
                              headers={**h, "Content-Type": "text/csv"})
    assert again.status_code == 202, again.text
    job = (await client.get(f"/v1/imports/{again.json()['id']}", headers=h)).json()
    assert (job["created"], job["rejected"]) == (0, 1)
    listed = await client.get("/v1/suppressions/check", params={"email": person["email"]},
                              headers=h)
    assert listed.json()["suppressed"] is True


async def test_another_tenants_contact_cannot_be_erased(client):
    a = await make_tenant()
    b = await make_tenant()
    contact = await make_contact(a, email="keep@example.org")
    foreign = await client.delete(f"/v1/contacts/{contact['id']}", headers=b.headers)
    missing = await client.delete(f"/v1/contacts/{uuid.uuid4()}", headers=b.headers)
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == missing.json()
    assert (await client.get(f"/v1/contacts/{contact['id']}", headers=a.headers)).status_code == 200
