"""The suppression list on both engines: keyed hashes only, checks by normalised
identifier, grants refused and withdrawals accepted for a listed person, the
exclusion fragment the segment export uses, and tenant isolation."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from consent import suppression
from optinbase import db
from tests.factories import make_contact, make_tenant, make_world

CONSENT = {"purpose": "newsletter", "method": "api"}


async def add(client, tenant, **entry):
    response = await client.post("/v1/suppressions", json=entry, headers=tenant.headers)
    assert response.status_code == 201, response.text
    return response.json()


async def check(client, tenant, **query):
    response = await client.get("/v1/suppressions/check", params=query, headers=tenant.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_add_and_check_by_normalised_identifier(client):
    tenant = await make_tenant()
    entry = await add(client, tenant, email="  Anne.Dupont@EXAMPLE.fr ", reason="objection")
    assert (entry["kind"], entry["channel"], entry["reason"]) == ("email", "all", "objection")
    await add(client, tenant, phone="06 12 34 56 78", channel="sms", reason="complaint")
    await add(client, tenant, phone="+33612345678", channel="phone", reason="manual")
    assert await check(client, tenant, email="anne.dupont@example.fr") == {
        "suppressed": True, "channels": ["all"]}
    assert await check(client, tenant, phone="+33 6 12 34 56 78") == {
        "suppressed": True, "channels": ["phone", "sms"]}
    assert await check(client, tenant, email="someone@example.fr") == {
        "suppressed": False, "channels": []}


async def test_adding_twice_is_idempotent(client):
    tenant = await make_tenant()
    first = await add(client, tenant, email="a@example.com", reason="bounce")
    again = await add(client, tenant, email="A@example.com", reason="manual")
    assert again["id"] == first["id"] and again["reason"] == "bounce"


async def test_only_a_keyed_hash_is_stored(client, backend):
    tenant = await make_tenant()
    await add(client, tenant, email="secret@example.com", reason="erasure")
    async with db.tenant_transaction(tenant.id):
        rows = await db.fetch(
            "SELECT identifier_hash FROM suppression WHERE tenant_id = {}", tenant.id)
        key = await suppression.tenant_key(tenant.id)
    [stored] = [r["identifier_hash"] for r in rows]
    assert stored == hmac.new(key, b"secret@example.com", hashlib.sha256).hexdigest()
    assert stored != hashlib.sha256(b"secret@example.com").hexdigest()


@pytest.mark.parametrize(("body", "field"), [
    ({"reason": "manual"}, "email"),
    ({"email": "a@example.com", "phone": "+33612345678", "reason": "manual"}, "email"),
    ({"email": "nope", "reason": "manual"}, "email"),
    ({"email": "a@example.com", "reason": "because"}, "reason"),
    ({"email": "a@example.com", "reason": "manual", "channel": "fax"}, "channel"),
    ({"email": "a@example.com", "reason": "manual", "chanel": "sms"}, "chanel"),
])
async def test_bad_entries_are_422(client, body, field):
    tenant = await make_tenant()
    response = await client.post("/v1/suppressions", json=body, headers=tenant.headers)
    assert response.status_code == 422, response.text
    assert field in response.text


async def test_scopes(client):
    reader = await make_tenant(scopes=["contacts:read"])
    assert (await client.post("/v1/suppressions", json={"email": "a@example.com", "reason": "manual"},
                              headers=reader.headers)).status_code == 403
    assert (await check(client, reader, email="a@example.com"))["suppressed"] is False
    other = await make_tenant(scopes=["consents:read"])
    response = await client.get("/v1/suppressions/check", params={"email": "a@example.com"},
                                headers=other.headers)
    assert response.status_code == 403


async def test_grants_are_refused_and_withdrawals_accepted(client):
    world = await make_world(await make_tenant())  # contact with an e-mail and +33612345678, email granted
    h, contact = world.tenant.headers, world.contact
    await add(client, world.tenant, phone="+33612345678", channel="sms", reason="complaint")
    path = f"/v1/contacts/{contact['id']}/consents"
    refused = await client.post(path, headers=h, json={
        **CONSENT, "channel": "sms", "action": "grant", "notice_id": world.notice["id"]})
    assert refused.status_code == 422
    assert "suppression list" in refused.json()["detail"]
    # Another channel is still fine; a withdrawal always is.
    ok = await client.post(path, headers=h, json={
        **CONSENT, "channel": "email", "action": "grant", "notice_id": world.notice["id"]})
    assert ok.status_code == 201, ok.text
    await add(client, world.tenant, email=contact["email"], reason="objection")
    again = await client.post(path, headers=h, json={
        **CONSENT, "channel": "email", "action": "grant", "notice_id": world.notice["id"]})
    assert again.status_code == 422
    withdrawn = await client.post(path, headers=h, json={
        **CONSENT, "channel": "email", "action": "withdraw"})
    assert withdrawn.status_code == 201, withdrawn.text


async def test_other_tenants_lists_do_not_apply(client):
    a = await make_world(await make_tenant())
    b = await make_world(await make_tenant())
    await add(client, a.tenant, email=b.contact["email"], reason="objection")
    assert (await check(client, b.tenant, email=b.contact["email"]))["suppressed"] is False
    response = await client.post(f"/v1/contacts/{b.contact['id']}/consents", headers=b.tenant.headers,
                                 json={**CONSENT, "channel": "email", "action": "grant",
                                       "notice_id": b.notice["id"]})
    assert response.status_code == 201


async def _not_excluded(tenant_id, channel) -> set[str]:
    async with db.tenant_transaction(tenant_id, write=False):
        rows = await db.fetch(
            "SELECT c.id FROM contact c WHERE c.tenant_id = {} AND "
            + suppression.exclusion_sql("c"),
            tenant_id, channel, channel,
        )
    return {str(r["id"]) for r in rows}


async def test_exclusion_fragment_follows_the_list_and_identifier_changes(client, backend):
    tenant = await make_tenant()
    a = await make_contact(tenant, email="a@example.com")
    b = await make_contact(tenant, email="b@example.com", phone="+33612345670")
    c = await make_contact(tenant, external_id="no-address")
    everyone = {a["id"], b["id"], c["id"]}
    assert await _not_excluded(tenant.id, "email") == everyone
    await add(client, tenant, phone="+33612345670", channel="sms", reason="complaint")
    await add(client, tenant, phone="+33612345671", channel="sms", reason="complaint")
    await add(client, tenant, email="a@example.com", reason="objection")
    assert await _not_excluded(tenant.id, "sms") == {c["id"]}
    assert await _not_excluded(tenant.id, "email") == {b["id"], c["id"]}
    # The hash follows a changed address: c takes a listed one, a leaves it.
    await client.patch(f"/v1/contacts/{a['id']}", json={"email": "a2@example.com"}, headers=tenant.headers)
    await client.patch(f"/v1/contacts/{c['id']}", json={"phone": "06 12 34 56 71"}, headers=tenant.headers)
    assert await _not_excluded(tenant.id, "sms") == {a["id"]}
    assert await _not_excluded(tenant.id, "email") == everyone


def test_exclusion_alias_must_be_an_identifier():
    with pytest.raises(ValueError):
        suppression.exclusion_sql("c; DROP TABLE contact")


@pytest.mark.parametrize("length", [0, 1, 32, 63, 64, 65, 200])
def test_the_identifier_hash_is_hmac_sha256_for_any_key_length(length):
    """suppression.identifier_hash pads each key once and copies the states:
    the digest must stay the standard HMAC, keys longer than a block included."""
    key = bytes(range(length % 256)) * (length // 256 + 1)
    key = key[:length]
    for text in ("ann@example.com", "+33612345678", "é@exämple.com", ""):
        assert suppression.identifier_hash(key, text) == hmac.new(
            key, text.encode(), hashlib.sha256).hexdigest()
