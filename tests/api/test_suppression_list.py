"""GET and DELETE /v1/suppressions (API.md, second round): the list pages by
cursor and shows keyed hashes only; a removal needs a reason, is audited, answers
404 when the person is not listed; another tenant's entries are invisible and
cannot be removed. Both engines."""

from __future__ import annotations

import hashlib
import hmac
import uuid

from consent.suppression import tenant_key
from optinbase import cursors

from tests.factories import make_tenant


async def _list(client, tenant, **params):
    response = await client.get("/v1/suppressions", params=params, headers=tenant.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def _delete(client, tenant, body):
    return await client.request("DELETE", "/v1/suppressions", json=body, headers=tenant.headers)


async def _add(client, tenant, body):
    response = await client.post("/v1/suppressions", json=body, headers=tenant.headers)
    assert response.status_code == 201, response.text
    return response.json()


async def test_list_pages_by_cursor_and_never_shows_addresses(client):
    tenant = await make_tenant()
    for i in range(5):
        await _add(client, tenant, {"email": f"p{i}@example.com", "reason": "objection"})
    await _add(client, tenant, {"phone": "+33612345678", "channel": "sms", "reason": "complaint"})

    seen, cursor, pages = [], None, 0
    while True:
        page = await _list(client, tenant, limit=4, **({"cursor": cursor} if cursor else {}))
        seen += page["items"]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 2 and len(seen) == 6
    assert len({item["id"] for item in seen}) == 6
    assert [item["id"] for item in seen] == sorted(item["id"] for item in seen)
    for item in seen:
        assert {"id", "channel", "reason", "created_at"} <= set(item)
        assert "example.com" not in str(item) and "612345678" not in str(item)
        assert len(item["identifier_hash"]) == 64
    assert sorted((i["channel"], i["reason"]) for i in seen) == (
        [("all", "objection")] * 5 + [("sms", "complaint")])

    forged = await client.get("/v1/suppressions", params={"cursor": "bm9wZQ"},
                              headers=tenant.headers)
    assert forged.status_code == 422


async def test_hash_is_the_keyed_hmac_of_the_normalised_address(client):
    tenant = await make_tenant()
    await _add(client, tenant, {"email": "  Ann@Example.COM ", "reason": "manual"})
    [item] = (await _list(client, tenant))["items"]
    key = await tenant_key(tenant.id)
    assert item["identifier_hash"] == hmac.new(key, b"ann@example.com", hashlib.sha256).hexdigest()


async def test_delete_needs_a_reason_and_is_audited(client):
    tenant = await make_tenant()
    await _add(client, tenant, {"email": "ann@example.com", "reason": "objection"})
    await _add(client, tenant, {"email": "ann@example.com", "channel": "sms", "reason": "complaint"})

    for body in ({"email": "ann@example.com"}, {"email": "ann@example.com", "reason": ""},
                 {"email": "ann@example.com", "reason": "   "},
                 {"email": "ann@example.com", "reason": "a\x00b"},
                 {"email": "ann\x00@example.com", "reason": "asked"},
                 {"email": "ann@example.com", "reason": "x" * 501},
                 {"email": "ann@example.com", "reason": "asked", "channel": "fax"}):
        assert (await _delete(client, tenant, body)).status_code == 422, body
    assert (await _delete(client, tenant, {"reason": "asked"})).status_code == 422
    assert (await _delete(client, tenant, {"email": "ann@example.com", "reason": "x",
                                           "bogus": 1})).status_code == 422

    # One channel only: the other entry stays.
    gone = await _delete(client, tenant, {"email": "ANN@example.com", "channel": "sms",
                                          "reason": "re-subscribed by phone"})
    assert gone.status_code == 204, gone.text
    check = (await client.get("/v1/suppressions/check", params={"email": "ann@example.com"},
                              headers=tenant.headers)).json()
    assert check == {"suppressed": True, "channels": ["all"]}

    again = await _delete(client, tenant, {"email": "ann@example.com", "channel": "sms",
                                           "reason": "twice"})
    assert again.status_code == 404
    assert again.headers["content-type"].startswith("application/problem+json")

    # No channel: every remaining entry.
    assert (await _delete(client, tenant, {"email": "ann@example.com",
                                           "reason": "objection withdrawn in writing"})
            ).status_code == 204
    assert (await _list(client, tenant))["items"] == []
    assert (await _delete(client, tenant, {"email": "ann@example.com", "reason": "x"})
            ).status_code == 404

    audit = (await client.get("/v1/audit-events", params={"limit": 100},
                              headers=tenant.headers)).json()["items"]
    removed = [e for e in audit if e["action"] == "suppression.removed"]
    assert [(e["details"]["channel"], e["details"]["listed_for"], e["details"]["reason"])
            for e in removed] == [("sms", "complaint", "re-subscribed by phone"),
                                  ("all", "objection", "objection withdrawn in writing")]
    assert all("ann@" not in str(e) for e in audit)


async def test_another_tenants_list_is_invisible_and_untouchable(client):
    ours, theirs = await make_tenant(), await make_tenant()
    await _add(client, theirs, {"email": "bob@example.com", "reason": "objection"})
    assert (await _list(client, ours))["items"] == []
    [their_entry] = (await _list(client, theirs))["items"]
    # Same address, our tenant: not listed here → 404, and theirs stays.
    refused = await _delete(client, ours, {"email": "bob@example.com", "reason": "mine now"})
    assert refused.status_code == 404
    assert (await _list(client, theirs))["items"] == [their_entry]
    # A cursor made from their id only moves our window; it never shows their rows.
    page = await _list(client, ours, cursor=cursors.encode_uuid(uuid.UUID(their_entry["id"])))
    assert page["items"] == []


async def test_read_scope_lists_but_cannot_delete(client):
    tenant = await make_tenant(scopes=["contacts:read"])
    assert (await _list(client, tenant))["items"] == []
    refused = await _delete(client, tenant, {"email": "a@example.com", "reason": "x"})
    assert refused.status_code == 403
