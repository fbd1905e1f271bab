"""An erasure asked for through the public request pages leaves no trace
either: not in the requests, their trail, the e-mails sent about them, the
access package made earlier, nor anywhere else in a full dump."""

from __future__ import annotations

import json
import re
import uuid

import pytest

from optinbase import db, limits
from tests.consent.dumps import whole_database
from tests.factories import grant, make_contact, make_notice, make_purpose, make_tenant

TOKEN = re.compile(r"/p/requests/verify/([A-Za-z0-9_-]+)")


@pytest.fixture(autouse=True)
def _no_rate_limit(monkeypatch):
    monkeypatch.setattr(limits, "REQUEST_FORM", limits.Limit("requests.address", 10_000, 600))


async def _verify_latest(client, tenant, email):
    async with db.tenant_transaction(tenant.id, write=False):
        payload = await db.fetchval(
            "SELECT payload FROM outbox_message WHERE tenant_id = {} AND recipient = {}"
            " AND subject LIKE 'Confirm%' ORDER BY created_at DESC LIMIT 1", tenant.id, email)
    token = TOKEN.search(json.loads(payload)["text"] if isinstance(payload, str)
                         else payload["text"]).group(1)
    assert (await client.post(f"/p/requests/verify/{token}")).status_code == 200


async def test_erasure_request_leaves_no_trace(client, database_url):
    tenant = await make_tenant()
    h = tenant.headers
    await make_purpose(tenant)
    notice = await make_notice(tenant)
    mark = uuid.uuid4().hex[:10]
    phone = f"+3361{int(mark, 16) % 10**7:07d}"  # unique in the shared test database (+33 61… is a valid mobile range)
    person = {"email": f"dsr.{mark}@example.org", "phone": phone,
              "first_name": f"Ottilie{mark}", "last_name": f"Vranck{mark}"}
    ip = "198.51.100.203"
    contact = await make_contact(tenant, **person)
    await grant(tenant, contact["id"], notice["id"], method="web_form", ip=ip)

    async def ask(kind, note=""):
        answer = await client.post(f"/p/{tenant.slug}/requests", headers={"accept-language": "en"},
                                   data={"kind": kind, "email": person["email"], "note": note})
        assert answer.status_code == 200
        await _verify_latest(client, tenant, person["email"])
        listed = (await client.get("/v1/requests", params={"status": "verified"},
                                   headers=h)).json()["items"]
        return next(r for r in listed if r["kind"] == kind)

    access = await ask("access")
    done = await client.post(f"/v1/requests/{access['id']}/complete", headers=h)
    assert done.status_code == 200 and done.json()["package_expires_at"]
    erasure = await ask("erasure", note=f"I am {person['first_name']} {person['last_name']}")
    await client.post(f"/v1/requests/{erasure['id']}/extend",
                      json={"months": 1, "reason": "backups to check"}, headers=h)

    needles = [person["email"].encode(), phone.encode(), person["first_name"].encode(),
               person["last_name"].encode(), ip.encode()]
    before = whole_database(database_url, tenant.id)
    assert all(n in before for n in needles)

    completed = await client.post(f"/v1/requests/{erasure['id']}/complete", headers=h)
    assert completed.status_code == 200, completed.text
    assert completed.json()["status"] == "completed"

    after = whole_database(database_url, tenant.id)
    assert [n for n in needles if n in after] == []
    assert (await client.get("/v1/ledger/verify", headers=h)).json()["ok"] is True
    trail = (await client.get(f"/v1/requests/{erasure['id']}", headers=h)).json()
    assert "completed" in [e["action"] for e in trail["events"]]
    assert trail["outcome"] == "Your personal data has been erased."  # no staff words kept
    assert (await client.get(f"/v1/requests/{access['id']}/package", headers=h)).status_code == 410
    again = await client.post("/v1/imports", content=f"email\n{person['email']}\n".encode(),
                              headers={**h, "Content-Type": "text/csv"})
    job = (await client.get(f"/v1/imports/{again.json()['id']}", headers=h)).json()
    assert (job["created"], job["rejected"]) == (0, 1)
    # Asking again is recognised by the keyed hash alone: a new request, same person.
    third = await client.post("/v1/requests", json={"kind": "erasure", "email": person["email"]},
                              headers=h)
    assert third.status_code == 201
