"""API keys through the HTTP API: 401/403 answers, expiry, revocation (in this
process and in another one within the cache lifetime), key format, the verify
cache, and agency keys acting on one of their tenants with X-Tenant."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from optinbase import db
from optinbase.errors import Unauthorized
from tenants import envelope, keys, service
from tests.factories import as_owner, make_key, make_tenant, unique_slug

PROBLEM = "application/problem+json"


def key_id_of(full_key: str) -> str:
    return full_key.split("_")[1]


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status
    assert body["title"] and body["type"]
    return body


async def test_bad_credentials_answer_401_problem(client):
    tenant = await make_tenant()
    key_id, secret = keys.parse(tenant.key)
    other_id, _, _ = keys.generate()
    _, other_secret, _ = keys.generate()
    assert (await client.get("/v1/tenant", headers=tenant.headers)).status_code == 200
    attempts = {
        "missing header": {},
        "wrong scheme": {"Authorization": f"Basic {tenant.key}"},
        "scheme without token": {"Authorization": "Bearer "},
        "malformed key": {"Authorization": "Bearer obk_not-a-key"},
        "truncated secret": {"Authorization": f"Bearer {tenant.key[:-1]}"},
        "unknown key id": {"Authorization": f"Bearer obk_{other_id}_{secret}"},
        "right id, wrong secret": {"Authorization": f"Bearer obk_{key_id}_{other_secret}"},
    }
    for label, headers in attempts.items():
        response = await client.get("/v1/tenant", headers=headers)
        body = assert_problem(response, 401)
        assert "www-authenticate" in response.headers, label
        assert tenant.slug not in response.text, label
        assert body["status"] == 401, label


async def test_key_without_scope_is_forbidden(client):
    tenant = await make_tenant(scopes=["contacts:read"])
    listed = await client.get("/v1/contacts", headers=tenant.headers)
    assert listed.status_code == 200, listed.text
    response = await client.post(
        "/v1/contacts", json={"email": "scope@example.com"}, headers=tenant.headers
    )
    body = assert_problem(response, 403)
    assert "contacts:write" in body["detail"]
    # Nothing was written by the refused request.
    after = await client.get(
        "/v1/contacts", params={"email": "scope@example.com"}, headers=tenant.headers
    )
    assert after.json()["items"] == []


async def test_expired_key_is_refused(client):
    tenant = await make_tenant()
    past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1)
    expired = await make_key(tenant.id, expires_at=past)
    response = await client.get("/v1/tenant", headers={"Authorization": f"Bearer {expired}"})
    assert_problem(response, 401)
    future = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)
    valid = await make_key(tenant.id, expires_at=future)
    response = await client.get("/v1/tenant", headers={"Authorization": f"Bearer {valid}"})
    assert response.status_code == 200, response.text


async def test_revoked_key_stops_at_once_in_the_revoking_process(client):
    tenant = await make_tenant()
    app = client._transport.app
    assert (await client.get("/v1/tenant", headers=tenant.headers)).status_code == 200
    # Served from the cache now; revocation must evict it.
    assert (await client.get("/v1/tenant", headers=tenant.headers)).status_code == 200
    await keys.revoke_key(key_id_of(tenant.key), app.state.key_authenticator)
    assert_problem(await client.get("/v1/tenant", headers=tenant.headers), 401)
    assert_problem(await client.get("/v1/purposes", headers=tenant.headers), 401)


async def test_revocation_reaches_another_process_after_the_cache_lifetime(backend):
    tenant = await make_tenant()
    key_id, secret = keys.parse(tenant.key)
    now = {"a": 1000.0, "b": 5000.0}
    process_a = keys.KeyAuthenticator(recheck_seconds=30, clock=lambda: now["a"])
    process_b = keys.KeyAuthenticator(recheck_seconds=30, clock=lambda: now["b"])
    for process in (process_a, process_b):
        verified = await process.authenticate(tenant.key)
        assert verified.tenant_id == tenant.id and verified.agency_id is None
    await keys.revoke_key(key_id, process_a)
    with pytest.raises(Unauthorized):
        await process_a.authenticate(tenant.key)
    # Process B has not heard of it: it answers from its cache within the lifetime.
    now["b"] += 29
    assert (await process_b.authenticate(tenant.key)).key_id == key_id
    assert process_b.cached(key_id, secret) is not None
    now["b"] += 1.5
    assert process_b.cached(key_id, secret) is None
    with pytest.raises(Unauthorized):
        await process_b.authenticate(tenant.key)
    # Still refused later: the revocation is not forgotten with the cache entry.
    now["b"] += 100
    with pytest.raises(Unauthorized):
        await process_b.authenticate(tenant.key)


async def test_key_format_and_hash_at_rest(backend):
    tenant = await make_tenant()
    assert tenant.key.startswith("obk_")
    key_id, secret = keys.parse(tenant.key)
    assert re.fullmatch(r"[A-Za-z0-9_-]{22,}", secret)
    assert len(secret) == 43  # 256 bits, url-safe base64
    assert tenant.key == f"obk_{key_id}_{secret}"
    async with as_owner(), db.tenant_transaction(tenant.id):
        row = await db.fetchrow(
            "SELECT secret_hash, tenant_id FROM api_key WHERE key_id = {}", key_id
        )
    assert row is not None
    stored = row["secret_hash"]
    assert stored.startswith("$argon2id$")
    assert secret not in stored and tenant.key not in stored
    second = await make_key(tenant.id)
    assert keys.parse(second)[1] != secret and keys.parse(second)[0] != key_id


async def test_verified_key_is_served_from_cache(backend):
    tenant = await make_tenant(scopes=["contacts:read", "consents:read"])
    key_id, secret = keys.parse(tenant.key)
    authenticator = keys.KeyAuthenticator()
    assert authenticator.cached(key_id, secret) is None
    verified = await authenticator.authenticate(tenant.key)
    assert verified.scopes == frozenset({"contacts:read", "consents:read"})
    assert authenticator.cached(key_id, secret) == verified
    async with as_owner(), db.tenant_transaction(tenant.id):
        used = await db.fetchval("SELECT last_used_at FROM api_key WHERE key_id = {}", key_id)
    assert used is not None  # the verify recorded the key's use
    # The cache is keyed on the secret too: a wrong secret never hits it.
    _, wrong_secret, _ = keys.generate()
    assert authenticator.cached(key_id, wrong_secret) is None
    with pytest.raises(Unauthorized):
        await authenticator.authenticate(f"obk_{key_id}_{wrong_secret}")
    assert authenticator.cached(key_id, secret) == verified


async def make_agency_with_tenants():
    agency_slug = unique_slug("ag")
    async with as_owner():
        agency_id = await service.create_agency(agency_slug, "Agency")
    first = await make_tenant(agency=agency_slug)
    second = await make_tenant(agency=agency_slug)
    async with as_owner(), envelope.control(agency_id=agency_id):
        agency_key = await keys.create_key(
            tenant_id=None, agency_id=agency_id, name="agency", scopes=None, expires_at=None
        )
    return first, second, {"Authorization": f"Bearer {agency_key}"}


async def test_agency_key_acts_on_the_tenant_named_in_x_tenant(client):
    first, second, headers = await make_agency_with_tenants()
    for tenant in (first, second):
        response = await client.get("/v1/tenant", headers={**headers, "X-Tenant": tenant.slug})
        assert response.status_code == 200, response.text
        assert response.json()["slug"] == tenant.slug
        assert response.json()["id"] == str(tenant.id)
    # Data written through the agency key lands in the named tenant only.
    created = await client.post(
        "/v1/purposes", json={"key": "agency-made", "name": "Agency made"},
        headers={**headers, "X-Tenant": first.slug},
    )
    assert created.status_code == 201, created.text
    assert (await client.get("/v1/purposes/agency-made", headers=first.headers)).status_code == 200
    assert_problem(await client.get("/v1/purposes/agency-made", headers=second.headers), 404)


async def test_agency_key_without_x_tenant_is_invalid(client):
    _, _, headers = await make_agency_with_tenants()
    body = assert_problem(await client.get("/v1/tenant", headers=headers), 422)
    assert "X-Tenant" in body["detail"]


async def test_agency_key_cannot_reach_a_tenant_outside_its_agency(client):
    _, _, headers = await make_agency_with_tenants()
    outsider = await make_tenant()
    foreign = await client.get("/v1/tenant", headers={**headers, "X-Tenant": outsider.slug})
    missing = await client.get(
        "/v1/tenant", headers={**headers, "X-Tenant": unique_slug("nobody")}
    )
    not_a_slug = await client.get("/v1/tenant", headers={**headers, "X-Tenant": "Not A Slug"})
    assert_problem(foreign, 404)
    assert_problem(missing, 404)
    assert foreign.content == missing.content == not_a_slug.content
    assert outsider.slug not in foreign.text


async def test_tenant_key_naming_another_tenant_is_not_found(client):
    tenant = await make_tenant()
    other = await make_tenant()
    own = await client.get("/v1/tenant", headers={**tenant.headers, "X-Tenant": tenant.slug})
    assert own.status_code == 200 and own.json()["slug"] == tenant.slug
    foreign = await client.get("/v1/tenant", headers={**tenant.headers, "X-Tenant": other.slug})
    missing = await client.get(
        "/v1/tenant", headers={**tenant.headers, "X-Tenant": unique_slug("nobody")}
    )
    assert_problem(foreign, 404)
    assert foreign.content == missing.content
